// Package jwks fetches the key sets RequestAuthentications verify tokens
// with, as istiod does, so that proxies never fetch them themselves: every
// key set is inlined into their jwt_authn config (translate/security/authn).
//
// A Resolver sits between a discovery source and the xDS server. It
// passes each Snapshot on with the keys it holds (Snapshot.WithJWKS),
// fetches the sources a Snapshot names for the first time, refreshes all
// of them periodically, and publishes the last Snapshot again whenever
// keys change, so the Snapshot's version follows the keys. A source that
// fails keeps its last good keys; the failure is logged when it starts
// and ends and reported as a Problem (/debug/problemz) while it lasts.
package jwks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/pilotlight/pilotlight/translate/model"
)

// Defaults of Options, istiod's.
const (
	DefaultTimeout = 5 * time.Second
	DefaultRefresh = 20 * time.Minute
)

// maxDocumentBytes bounds what is read from a key server.
const maxDocumentBytes = 1 << 20

// ProblemSource is the Problem.Source of fetch failures.
const ProblemSource = "jwks"

// Options configure a Resolver.
type Options struct {
	// Client fetches; nil means a client with the system's roots that
	// refuses to connect to BlockedCIDRs.
	Client *http.Client
	// BlockedCIDRs are address ranges keys are never fetched from, checked
	// on every connection after name resolution (so neither a DNS name nor
	// a redirect gets around them): a RequestAuthentication must not make
	// the control plane reach, say, a cloud metadata endpoint. Ignored
	// with Client.
	BlockedCIDRs []netip.Prefix
	// Timeout bounds one fetch (an OpenID discovery document and the key
	// set it names count as one) for sources whose rules set no timeout
	// of their own; 0 means DefaultTimeout.
	Timeout time.Duration
	// Refresh is how often every source is fetched again; 0 means
	// DefaultRefresh.
	Refresh time.Duration
	Logger  *zap.Logger
}

// Resolver keeps key sets fresh. Its methods are safe for concurrent use.
type Resolver struct {
	opts Options
	log  *zap.Logger
	kick chan struct{}

	mu      sync.Mutex
	publish func(*model.Snapshot, []model.Problem)
	last    *model.Snapshot
	// sourceProblems are the discovery source's own.
	sourceProblems []model.Problem
	keys           map[string]state
}

// state is what is known of one source.
type state struct {
	keys    string // last good key set; empty if none yet
	fetched time.Time
	err     error // of the last attempt; nil if it succeeded
}

// New returns a Resolver; nothing is fetched until Run.
func New(opts Options) *Resolver {
	if opts.Client == nil {
		opts.Client = blockingClient(opts.BlockedCIDRs)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Refresh <= 0 {
		opts.Refresh = DefaultRefresh
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	return &Resolver{opts: opts, log: opts.Logger, kick: make(chan struct{}, 1), keys: map[string]state{}}
}

// Wrap returns a publish function for a discovery source that hands
// Snapshots with keys (and problems with fetch failures) to publish.
func (r *Resolver) Wrap(publish func(*model.Snapshot, []model.Problem)) func(*model.Snapshot, []model.Problem) {
	r.mu.Lock()
	r.publish = publish
	r.mu.Unlock()
	return func(snap *model.Snapshot, problems []model.Problem) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if snap != nil {
			r.last = snap
		}
		r.sourceProblems = problems
		r.publishLocked()
		if r.last != nil && slices.ContainsFunc(r.last.JWKSSources(), func(src string) bool { _, known := r.keys[src]; return !known }) {
			select {
			case r.kick <- struct{}{}:
			default:
			}
		}
	}
}

// publishLocked hands the last Snapshot on with the keys held now.
func (r *Resolver) publishLocked() {
	if r.publish == nil {
		return
	}
	problems := slices.Clone(r.sourceProblems)
	if r.last == nil {
		r.publish(nil, problems)
		return
	}
	keys := map[string]string{}
	for _, src := range r.last.JWKSSources() {
		st := r.keys[src]
		if st.keys != "" {
			keys[src] = st.keys
		}
		if st.err != nil {
			problems = append(problems, r.problems(src, st)...)
		}
	}
	snap := r.last
	if len(keys) > 0 {
		// Sources' Snapshots hold no keys: without any, there is nothing
		// to add (and no version to compute again).
		snap = snap.WithJWKS(keys)
	}
	r.publish(snap, problems)
}

// problems names every JWT rule whose keys come from a failing source.
func (r *Resolver) problems(src string, st state) []model.Problem {
	msg := fmt.Sprintf("fetching keys from %s: %v; ", src, st.err)
	if st.keys != "" {
		msg += "tokens are verified with the keys fetched at " + st.fetched.UTC().Format(time.RFC3339)
	} else {
		msg += "no keys were ever fetched, so no token of this issuer verifies"
	}
	var out []model.Problem
	for _, c := range r.last.Configs(model.KindRequestAuthentication) {
		for i, rule := range model.AsRequestAuthentication(c).GetJwtRules() {
			if model.JWKSSource(rule) == src {
				out = append(out, model.Problem{
					Source: ProblemSource, Index: -1, Kind: string(c.Kind), Namespace: c.Namespace, Name: c.Name,
					Field: fmt.Sprintf("spec.jwtRules[%d]", i), Message: msg, Warning: true,
				})
			}
		}
	}
	return out
}

// Run fetches new sources as Snapshots name them and every source each
// Refresh, until ctx ends.
func (r *Resolver) Run(ctx context.Context) error {
	tick := time.NewTicker(r.opts.Refresh)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-r.kick:
			r.refresh(ctx, false)
		case <-tick.C:
			r.refresh(ctx, true)
		}
	}
}

// refresh fetches the sources the last Snapshot names (only those never
// tried, unless all), forgets the ones it no longer names, and publishes
// again if any keys or errors changed.
func (r *Resolver) refresh(ctx context.Context, all bool) {
	r.mu.Lock()
	var sources []string
	if r.last != nil {
		sources = r.last.JWKSSources()
	}
	var todo []string
	var timeouts []time.Duration
	for _, src := range sources {
		if _, known := r.keys[src]; all || !known {
			todo = append(todo, src)
			timeout := r.last.JWKSTimeout(src)
			if timeout <= 0 {
				timeout = r.opts.Timeout
			}
			timeouts = append(timeouts, timeout)
		}
	}
	r.mu.Unlock()

	results := make([]state, len(todo))
	var wg sync.WaitGroup
	for i, src := range todo {
		wg.Go(func() {
			keys, err := r.fetch(ctx, src, timeouts[i])
			results[i] = state{keys: keys, fetched: time.Now(), err: err}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	changed := false
	for i, src := range todo {
		old, res := r.keys[src], results[i]
		if res.err != nil {
			// Keep the last good keys.
			res.keys, res.fetched = old.keys, old.fetched
			if old.err == nil || old.err.Error() != res.err.Error() {
				r.log.Error("fetching JWT keys failed; keeping the last good keys", zap.String("source", src), zap.Error(res.err),
					zap.Bool("have_keys", res.keys != ""))
			}
		} else if old.err != nil {
			r.log.Info("fetching JWT keys works again", zap.String("source", src))
		}
		changed = changed || res.keys != old.keys || (res.err == nil) != (old.err == nil)
		r.keys[src] = res
	}
	maps.DeleteFunc(r.keys, func(src string, _ state) bool { return !slices.Contains(sources, src) })
	if changed {
		r.publishLocked()
	}
}

// fetch gets a key set within timeout: a JWKS document at src, or an
// OpenID discovery document there whose jwks_uri names one.
func (r *Resolver) fetch(ctx context.Context, src string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	body, err := r.get(ctx, src, timeout)
	if err != nil {
		return "", err
	}
	var discovery struct {
		Keys    json.RawMessage `json:"keys"`
		JWKSURI string          `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &discovery); err != nil {
		return "", fmt.Errorf("%s is not JSON: %w", src, err)
	}
	if discovery.Keys == nil && discovery.JWKSURI != "" {
		if body, err = r.get(ctx, discovery.JWKSURI, timeout); err != nil {
			return "", fmt.Errorf("the jwks_uri of %s: %w", src, err)
		}
	}
	if err := model.CheckJWKS(string(body)); err != nil {
		return "", err
	}
	return string(body), nil
}

func (r *Resolver) get(ctx context.Context, url string, timeout time.Duration) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := r.opts.Client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("no answer within %v: %w", timeout, err)
		}
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", url, err)
	}
	if len(body) > maxDocumentBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", url, maxDocumentBytes)
	}
	return body, nil
}

// blockingClient is an HTTP client whose connections to blocked addresses
// fail.
func blockingClient(blocked []netip.Prefix) *http.Client {
	dialer := &net.Dialer{Control: func(_, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return err
		}
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return fmt.Errorf("connecting to %s: not an IP address", address)
		}
		for _, p := range blocked {
			if p.Contains(ip.Unmap()) {
				return fmt.Errorf("connecting to %s is blocked: it is in %s", ip, p)
			}
		}
		return nil
	}}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.DialContext = dialer.DialContext
	return &http.Client{Transport: transport}
}
