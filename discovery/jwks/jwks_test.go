package jwks_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	securityv1beta1 "istio.io/api/security/v1beta1"

	"github.com/pilotlight/pilotlight/discovery/jwks"
	"github.com/pilotlight/pilotlight/translate/model"
)

// keyServer is an HTTPS JWKS endpoint whose answer a test controls.
type keyServer struct {
	*httptest.Server
	requests atomic.Int32
	mu       sync.Mutex
	answer   func(w http.ResponseWriter, r *http.Request)
}

func newKeyServer(t *testing.T) *keyServer {
	ks := &keyServer{}
	ks.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ks.requests.Add(1)
		ks.mu.Lock()
		answer := ks.answer
		ks.mu.Unlock()
		answer(w, r)
	}))
	t.Cleanup(ks.Close)
	return ks
}

func (ks *keyServer) serve(f func(w http.ResponseWriter, r *http.Request)) {
	ks.mu.Lock()
	ks.answer = f
	ks.mu.Unlock()
}

func keySet(kid string) string {
	return fmt.Sprintf(`{"keys":[{"kty":"EC","crv":"P-256","kid":%q,"x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`, kid)
}

func serveKeys(kid string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, keySet(kid)) }
}

// mesh is a snapshot whose RequestAuthentication names uri.
func mesh(uri string) *model.Snapshot {
	b := model.NewBuilder()
	b.AddConfig(&model.Config{Kind: model.KindRequestAuthentication, Namespace: "bank", Name: "issuer", Spec: &securityv1beta1.RequestAuthentication{
		JwtRules: []*securityv1beta1.JWTRule{{Issuer: "https://issuer.example", JwksUri: uri}},
	}})
	return b.Build()
}

// published records what the Resolver hands on.
type published struct {
	ch chan publication
}

type publication struct {
	snap     *model.Snapshot
	problems []model.Problem
}

func (p *published) publish(s *model.Snapshot, problems []model.Problem) {
	p.ch <- publication{s, problems}
}

// next waits for the next publication.
func (p *published) next(t *testing.T) publication {
	t.Helper()
	select {
	case got := <-p.ch:
		return got
	case <-time.After(10 * time.Second):
		t.Fatal("nothing published")
		return publication{}
	}
}

// until waits for a publication that satisfies ok.
func (p *published) until(t *testing.T, what string, ok func(publication) bool) publication {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case got := <-p.ch:
			if ok(got) {
				return got
			}
		case <-deadline:
			t.Fatalf("never published %s", what)
		}
	}
}

func start(t *testing.T, ks *keyServer, opts jwks.Options) (*published, func(*model.Snapshot, []model.Problem)) {
	t.Helper()
	opts.Client = ks.Client()
	r := jwks.New(opts)
	out := &published{ch: make(chan publication, 100)}
	wrapped := r.Wrap(out.publish)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return out, wrapped
}

func keysIn(p publication, uri string) string {
	keys, _ := p.snap.JWKS(uri)
	return keys
}

// Keys are fetched when a Snapshot first names their source, cached
// across Snapshots, refreshed periodically, and each change of keys is a
// new Snapshot version.
func TestFetchCacheRefresh(t *testing.T) {
	ks := newKeyServer(t)
	ks.serve(serveKeys("k1"))
	uri := ks.URL + "/keys.json"
	out, publish := start(t, ks, jwks.Options{Refresh: 100 * time.Millisecond})

	snap := mesh(uri)
	publish(snap, nil)
	if first := out.next(t); keysIn(first, uri) != "" {
		t.Errorf("keys before any fetch: %q", keysIn(first, uri))
	}
	got := out.next(t)
	if keysIn(got, uri) != keySet("k1") {
		t.Fatalf("keys = %q, want k1's", keysIn(got, uri))
	}
	if got.snap.Version == snap.Version {
		t.Error("fetched keys left the version unchanged")
	}

	// A new Snapshot naming the same source gets the cached keys at once.
	before := ks.requests.Load()
	publish(mesh(uri), nil)
	if again := out.next(t); keysIn(again, uri) != keySet("k1") {
		t.Errorf("cached keys = %q", keysIn(again, uri))
	}
	if ks.requests.Load() > before+1 { // at most a refresh tick in between
		t.Errorf("a new Snapshot fetched again: %d requests", ks.requests.Load()-before)
	}

	// Rotated keys arrive with the next refresh.
	ks.serve(serveKeys("k2"))
	rotated := out.until(t, "rotated keys", func(p publication) bool { return keysIn(p, uri) == keySet("k2") })
	if rotated.snap.Version == got.snap.Version {
		t.Error("rotated keys left the version unchanged")
	}
}

// A slow or failing endpoint is an error that names the source and says
// what is served instead; the last good keys stay.
func TestFailuresKeepLastGoodKeys(t *testing.T) {
	for _, tc := range []struct {
		name  string
		serve func(http.ResponseWriter, *http.Request)
		want  string
	}{
		{"slow", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}, "no answer within 50ms"},
		{"failing", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) }, "503 Service Unavailable"},
		{"not keys", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, `{"keys":[]}`) }, "the key set has no keys"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ks := newKeyServer(t)
			ks.serve(serveKeys("good"))
			uri := ks.URL + "/keys"
			out, publish := start(t, ks, jwks.Options{Timeout: 50 * time.Millisecond, Refresh: 100 * time.Millisecond})
			publish(mesh(uri), nil)
			out.until(t, "good keys", func(p publication) bool { return keysIn(p, uri) == keySet("good") })

			ks.serve(tc.serve)
			failed := out.until(t, "the failure", func(p publication) bool { return len(p.problems) > 0 })
			if keysIn(failed, uri) != keySet("good") {
				t.Errorf("keys after the failure = %q, want the last good ones", keysIn(failed, uri))
			}
			msg := failed.problems[0].String()
			for _, part := range []string{"RequestAuthentication bank/issuer", uri, tc.want, "verified with the keys fetched at"} {
				if !strings.Contains(msg, part) {
					t.Errorf("problem %q does not say %q", msg, part)
				}
			}

			// Recovery clears the problem.
			ks.serve(serveKeys("good"))
			out.until(t, "recovery", func(p publication) bool { return len(p.problems) == 0 && keysIn(p, uri) == keySet("good") })
		})
	}
}

// An issuer without jwksUri is resolved through its OpenID discovery
// document; a source that never answered is a problem saying no token
// verifies.
func TestOpenIDDiscoveryAndNeverFetched(t *testing.T) {
	ks := newKeyServer(t)
	ks.serve(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == model.OpenIDConfigPath {
			fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q}`, "https://"+r.Host, "https://"+r.Host+"/certs")
			return
		}
		fmt.Fprint(w, keySet("discovered"))
	})
	b := model.NewBuilder()
	b.AddConfig(&model.Config{Kind: model.KindRequestAuthentication, Namespace: "bank", Name: "oidc", Spec: &securityv1beta1.RequestAuthentication{
		JwtRules: []*securityv1beta1.JWTRule{{Issuer: ks.URL}, {Issuer: "x", JwksUri: ks.URL + "/missing-host-part\x7f"}},
	}})
	out, publish := start(t, ks, jwks.Options{})
	publish(b.Build(), nil)
	src := ks.URL + model.OpenIDConfigPath
	got := out.until(t, "discovered keys and the bad source's problem", func(p publication) bool {
		return keysIn(p, src) == keySet("discovered") && len(p.problems) == 1
	})
	if msg := got.problems[0].String(); !strings.Contains(msg, "spec.jwtRules[1]") || !strings.Contains(msg, "no keys were ever fetched") {
		t.Errorf("problem = %s", msg)
	}
}

// A blocked address range is refused after name resolution: the key
// server is never reached, and the problem says why.
func TestBlockedCIDRs(t *testing.T) {
	var reached atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		reached.Store(true)
		fmt.Fprint(w, keySet("k"))
	}))
	defer srv.Close()
	// By name, so the check cannot be one of the URL's text.
	uri := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + "/keys"
	r := jwks.New(jwks.Options{BlockedCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}})
	out := &published{ch: make(chan publication, 10)}
	publish := r.Wrap(out.publish)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = r.Run(ctx) }()
	publish(mesh(uri), nil)
	got := out.until(t, "the refusal", func(p publication) bool { return len(p.problems) > 0 })
	if msg := got.problems[0].Message; !strings.Contains(msg, "is blocked: it is in") {
		t.Errorf("problem = %q", msg)
	}
	if reached.Load() {
		t.Error("the blocked key server was reached")
	}
}

// A rule's own timeout bounds fetching its keys, in place of the
// Resolver's.
func TestRuleTimeout(t *testing.T) {
	ks := newKeyServer(t)
	ks.serve(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	uri := ks.URL + "/keys"
	b := model.NewBuilder()
	b.AddConfig(&model.Config{Kind: model.KindRequestAuthentication, Namespace: "bank", Name: "issuer", Spec: &securityv1beta1.RequestAuthentication{
		JwtRules: []*securityv1beta1.JWTRule{{Issuer: "https://issuer.example", JwksUri: uri, Timeout: durationpb.New(30 * time.Millisecond)}},
	}})
	out, publish := start(t, ks, jwks.Options{Timeout: time.Minute})
	publish(b.Build(), nil)
	got := out.until(t, "the timeout", func(p publication) bool { return len(p.problems) > 0 })
	if msg := got.problems[0].Message; !strings.Contains(msg, "no answer within 30ms") {
		t.Errorf("problem = %q", msg)
	}
}
