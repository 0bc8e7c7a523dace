package xds

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"go.uber.org/zap"

	"github.com/pilotlight/pilotlight/ca"
	"github.com/pilotlight/pilotlight/translate"
	"github.com/pilotlight/pilotlight/translate/resource"
)

// A sidecar's istio-agent makes its key, gets it signed by the CA and
// serves Envoy "default" and "ROOTCA" itself. A plain Envoy has no agent.
// If it opts in (node metadata model.MetaWorkloadSDS "true", which
// `pilotlight bootstrap --envoy --sds` writes) and its stream on the TLS
// port proved an identity, pilotlight serves them over that ADS stream:
//
//   - "default": a tls_certificate holding a key pair pilotlight mints
//     for the proved identity (never for the node's claim; auth.go made
//     the two agree) and the certificate chain up to the root;
//   - "ROOTCA": a validation_context holding the CA's trust bundle.
//
// One key pair per identity, shared by that identity's opted-in streams
// (the cache key is the identity, so one identity can never be served
// another's) and forgotten when its last stream closes. It is minted
// again at half its life, less up to a tenth of it at random so that the
// renewals of identities minted together spread out, and when the trust
// bundle changes; each time, every stream of the identity is pushed the
// new secrets. Plaintext streams never get them, whatever
// Options.ServeCredentials says: they prove no identity to mint for.
//
// What serves them is this stream, so the node's config names them with
// an ADS config source (sds_config {ads {}}): the opt-in is part of the
// proxy's views (model.OutboundView.WorkloadSDS), and translate names
// secrets through istio-agent's sds-grpc cluster only for the others.

// WorkloadCA mints workload key pairs and says what workloads trust;
// *ca.Authority is one.
type WorkloadCA interface {
	MintWorkload(id spiffeid.ID) (*ca.Minted, error)
	TrustBundlePEM() []byte
	// Watch returns a channel closed when the CA's material (its trust
	// bundle, its signer) is replaced.
	Watch() (*ca.Material, <-chan struct{})
}

// Names of the workload secrets, istio-agent's.
const (
	workloadCertName = "default"
	workloadRootName = "ROOTCA"
)

// Values of the reason label of pilotlight_xds_workload_certificates_minted_total.
const (
	mintFirst    = "new"
	mintHalfLife = "half_life"
	mintRoots    = "trust_bundle"
)

// DefaultWorkloadRenewCheck is how often minted secrets are checked for
// renewal (half life reached); a trust bundle change is acted on at once.
const DefaultWorkloadRenewCheck = 10 * time.Second

// workloadSecrets holds the minted secrets of every identity with an
// opted-in stream open.
type workloadSecrets struct {
	ca      WorkloadCA
	builder *builder
	log     *zap.Logger
	metrics *metrics
	now     func() time.Time
	// jitter returns a random duration in [0, d).
	jitter func(d time.Duration) time.Duration

	mu   sync.Mutex
	byID map[spiffeid.ID]*identitySecrets
}

type identitySecrets struct {
	// streams counts the opted-in streams of the identity.
	streams int
	// items are ROOTCA and default (sorted by name), once minted.
	items []*built
	// wanted: a stream asked for the secrets (minting for streams that
	// never ask would waste keys).
	wanted    bool
	bundle    string
	refreshAt time.Time
}

func newWorkloadSecrets(issuer WorkloadCA, b *builder, log *zap.Logger, m *metrics) *workloadSecrets {
	return &workloadSecrets{
		ca: issuer, builder: b, log: log, metrics: m, now: time.Now,
		jitter: func(d time.Duration) time.Duration {
			if d <= 0 {
				return 0
			}
			return rand.N(d)
		},
		byID: map[spiffeid.ID]*identitySecrets{},
	}
}

// ref counts an opted-in stream of id; unref forgets it, and the
// identity's secrets with its last stream.
func (w *workloadSecrets) ref(id spiffeid.ID) {
	w.mu.Lock()
	defer w.mu.Unlock()
	e := w.byID[id]
	if e == nil {
		e = &identitySecrets{}
		w.byID[id] = e
	}
	e.streams++
}

func (w *workloadSecrets) unref(id spiffeid.ID) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if e := w.byID[id]; e != nil {
		if e.streams--; e.streams <= 0 {
			delete(w.byID, id)
		}
	}
}

// get returns the secrets of id, minting them on first use. ok is false
// if they could not be minted; the watch then stays unanswered until the
// next renewal check tries again.
func (w *workloadSecrets) get(id spiffeid.ID) ([]*built, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	e := w.byID[id]
	if e == nil {
		// Only streams that counted themselves ask; this cannot happen.
		return nil, false
	}
	e.wanted = true
	if e.items == nil {
		w.mint(id, e, string(w.ca.TrustBundlePEM()), mintFirst)
	}
	return e.items, e.items != nil
}

// renew mints again the secrets that reached their half life or predate
// the trust bundle, and returns the identities whose secrets changed.
func (w *workloadSecrets) renew() []spiffeid.ID {
	bundle := string(w.ca.TrustBundlePEM())
	now := w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	var changed []spiffeid.ID
	for id, e := range w.byID {
		var reason string
		switch {
		case e.items == nil && !e.wanted:
			continue
		case e.items == nil:
			// Minting failed when a watch asked: it is still waiting.
			reason = mintFirst
		case !now.Before(e.refreshAt):
			reason = mintHalfLife
		case e.bundle != bundle:
			reason = mintRoots
		default:
			continue
		}
		if w.mint(id, e, bundle, reason) {
			changed = append(changed, id)
		}
	}
	return changed
}

// mint makes new secrets for id; called with w.mu held. On failure the
// current ones, still valid, stay.
func (w *workloadSecrets) mint(id spiffeid.ID, e *identitySecrets, bundle, reason string) bool {
	m, err := w.ca.MintWorkload(id)
	if err != nil {
		w.metrics.mintFailures.Inc()
		w.log.Error("minting a workload certificate failed; the current one stays until the next check",
			zap.Stringer("identity", id), zap.String("reason", reason), zap.Error(err))
		return false
	}
	cert := translate.Resource{Name: workloadCertName, Message: &tlsv3.Secret{
		Name: workloadCertName,
		Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
			CertificateChain: inlineBytes(m.ChainPEM),
			PrivateKey:       inlineBytes(m.KeyPEM),
		}},
	}}
	root := translate.Resource{Name: workloadRootName, Message: &tlsv3.Secret{
		Name: workloadRootName,
		Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
			TrustedCa: inlineBytes([]byte(bundle)),
		}},
	}}
	var items []*built
	for _, r := range []translate.Resource{root, cert} {
		b := w.builder.build(resource.SecretType, r)
		if b == nil {
			return false // Logged and counted by build.
		}
		items = append(items, b)
	}
	now := w.now()
	life := m.Cert.NotAfter.Sub(now)
	e.items, e.bundle = items, bundle
	e.refreshAt = now.Add(life/2 - w.jitter(life/10))
	w.metrics.minted.WithLabelValues(reason).Inc()
	w.log.Info("workload certificate minted",
		zap.Stringer("identity", id), zap.String("reason", reason),
		zap.String("serial", m.Cert.SerialNumber.Text(16)), zap.Time("expires", m.Cert.NotAfter),
		zap.Time("renew_at", e.refreshAt))
	return true
}

func inlineBytes(b []byte) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: b}}
}

// workloadSecretsFor takes the workload secrets out of the names a
// stream asked for (sorted) and returns them, with the names left. ok is
// false if they are owed but could not be minted.
func (c *Cache) workloadSecretsFor(st *proxyStream, names []string) (found []*built, rest []string, ok bool) {
	w := c.workload.Load()
	if !st.mintsSecrets || w == nil {
		return nil, names, true
	}
	rest = slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == workloadCertName || n == workloadRootName })
	if len(rest) == len(names) {
		return nil, names, true
	}
	items, ok := w.get(st.caller.ID)
	if !ok {
		return nil, nil, false
	}
	for _, b := range items {
		if slices.Contains(names, b.name) {
			found = append(found, b)
		}
	}
	return found, rest, true
}

// renewWorkloadSecrets checks minted secrets every interval, and at once
// when the CA's material changes, until ctx ends, and pushes the renewed
// ones to their identities' streams.
func (c *Cache) renewWorkloadSecrets(ctx context.Context, issuer WorkloadCA, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	_, changed := issuer.Watch()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-changed:
		}
		// Watch again before checking: a change during the check
		// starts another one.
		_, changed = issuer.Watch()
		c.pushWorkloadSecrets()
	}
}

// pushWorkloadSecrets renews what is due and wakes the secret watches of
// the identities renewed.
func (c *Cache) pushWorkloadSecrets() {
	w := c.workload.Load()
	if w == nil {
		return
	}
	changed := w.renew()
	if len(changed) == 0 {
		return
	}
	start := time.Now()
	var ws []*watch
	c.mu.Lock()
	for wt := range c.watches {
		if wt.typeURL == resource.SecretType && wt.st.mintsSecrets && slices.Contains(changed, wt.st.caller.ID) {
			ws = append(ws, wt)
		}
	}
	c.mu.Unlock()
	c.push(ws, reasonCertificate, start)
}
