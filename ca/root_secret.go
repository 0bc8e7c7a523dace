package ca

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// The Secrets istiod keeps its CA in, in its own namespace.
const (
	// SelfSignedSecret holds the root istiod (or pilotlight) created for
	// itself: ca-cert.pem and ca-key.pem.
	SelfSignedSecret = "istio-ca-secret"
	// PluggedSecret holds an operator's intermediate (ca-cert.pem,
	// ca-key.pem, cert-chain.pem, root-cert.pem). When it exists it wins
	// over SelfSignedSecret, as in istiod.
	PluggedSecret = "cacerts"
	// selfSignedSecretType is the type istiod gives SelfSignedSecret.
	selfSignedSecretType = "istio.io/ca-root"
)

// SecretStore keeps material in Kubernetes Secrets, exactly where and how
// istiod keeps it, so that pilotlight adopts the root of an istiod it
// replaces (and istiod would adopt pilotlight's).
type SecretStore struct {
	client    kubernetes.Interface
	namespace string
}

// NewSecretStore returns a store in namespace, the control plane's.
func NewSecretStore(client kubernetes.Interface, namespace string) *SecretStore {
	return &SecretStore{client: client, namespace: namespace}
}

func (s *SecretStore) String() string {
	return fmt.Sprintf("Secret %s/%s (or %s/%s)", s.namespace, PluggedSecret, s.namespace, SelfSignedSecret)
}

// Load implements Store: cacerts if it exists, else istio-ca-secret.
func (s *SecretStore) Load(ctx context.Context) (KeyCertPEM, error) {
	secrets := s.client.CoreV1().Secrets(s.namespace)
	for _, name := range []string{PluggedSecret, SelfSignedSecret} {
		sec, err := secrets.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return KeyCertPEM{}, fmt.Errorf("reading Secret %s/%s: %w", s.namespace, name, err)
		}
		return s.fromSecret(sec)
	}
	return KeyCertPEM{}, ErrNoMaterial
}

// CreateIfAbsent implements Store. Creating a Secret is atomic in the API
// server: of several replicas creating istio-ca-secret at once exactly
// one succeeds, and the others read what it stored.
func (s *SecretStore) CreateIfAbsent(ctx context.Context, p KeyCertPEM) (KeyCertPEM, error) {
	secrets := s.client.CoreV1().Secrets(s.namespace)
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: SelfSignedSecret, Namespace: s.namespace},
		Type:       selfSignedSecretType,
		// istiod writes these five keys, the unused ones empty.
		Data: map[string][]byte{
			fileCACert:    p.CACert,
			fileCAKey:     p.CAKey,
			fileCertChain: {},
			"key.pem":     {},
			fileRootCert:  {},
		},
	}
	created, err := secrets.Create(ctx, sec, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		existing, gerr := secrets.Get(ctx, SelfSignedSecret, metav1.GetOptions{})
		if gerr != nil {
			return KeyCertPEM{}, fmt.Errorf("reading Secret %s/%s created concurrently: %w", s.namespace, SelfSignedSecret, gerr)
		}
		return s.fromSecret(existing)
	}
	if err != nil {
		return KeyCertPEM{}, fmt.Errorf("creating Secret %s/%s: %w", s.namespace, SelfSignedSecret, err)
	}
	return s.fromSecret(created)
}

// Update implements Store: it rewrites istio-ca-secret, keeping the keys
// istiod reads (ca-cert.pem and ca-key.pem are the root that signs) and
// adding those of a rotation. The API server refuses the write if the
// Secret changed since p was loaded.
func (s *SecretStore) Update(ctx context.Context, p KeyCertPEM) (KeyCertPEM, error) {
	secrets := s.client.CoreV1().Secrets(s.namespace)
	sec, err := secrets.Get(ctx, SelfSignedSecret, metav1.GetOptions{})
	if err != nil {
		return KeyCertPEM{}, fmt.Errorf("reading Secret %s/%s: %w", s.namespace, SelfSignedSecret, err)
	}
	if sec.ResourceVersion != p.version {
		return KeyCertPEM{}, ErrConflict
	}
	sec = sec.DeepCopy()
	if sec.Data == nil {
		sec.Data = map[string][]byte{}
	}
	sec.Data[fileCACert], sec.Data[fileCAKey] = p.CACert, p.CAKey
	for name, v := range map[string][]byte{fileNextCACert: p.NextCACert, fileNextCAKey: p.NextCAKey, filePreviousRoots: p.PreviousRoots} {
		if len(v) == 0 {
			delete(sec.Data, name)
		} else {
			sec.Data[name] = v
		}
	}
	updated, err := secrets.Update(ctx, sec, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) {
		return KeyCertPEM{}, ErrConflict
	}
	if err != nil {
		return KeyCertPEM{}, fmt.Errorf("updating Secret %s/%s: %w", s.namespace, SelfSignedSecret, err)
	}
	return s.fromSecret(updated)
}

// Watch implements Store: it watches the two Secrets by name (which is
// what lets RBAC grant list and watch on just them).
func (s *SecretStore) Watch(ctx context.Context) <-chan struct{} {
	changed := make(chan struct{}, 1)
	for _, name := range []string{PluggedSecret, SelfSignedSecret} {
		selector := fields.OneTermEqualSelector("metadata.name", name).String()
		secrets := s.client.CoreV1().Secrets(s.namespace)
		lw := &cache.ListWatch{
			ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				o.FieldSelector = selector
				return secrets.List(ctx, o)
			},
			WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				o.FieldSelector = selector
				return secrets.Watch(ctx, o)
			},
		}
		kick := func(any) { notify(changed) }
		_, inf := cache.NewInformerWithOptions(cache.InformerOptions{
			// As generated informers do: the client says whether it
			// can stream its lists (fake clients cannot).
			ListerWatcher: cache.ToListWatcherWithWatchListSemantics(lw, s.client),
			ObjectType:    &corev1.Secret{},
			Handler: cache.ResourceEventHandlerFuncs{
				AddFunc:    kick,
				UpdateFunc: func(any, any) { notify(changed) },
				DeleteFunc: kick,
			},
		})
		go inf.RunWithContext(ctx)
	}
	return changed
}

// fromSecret reads material out of one of istiod's Secrets.
func (s *SecretStore) fromSecret(sec *corev1.Secret) (KeyCertPEM, error) {
	where := fmt.Sprintf("Secret %s/%s", sec.Namespace, sec.Name)
	p := KeyCertPEM{
		CACert:    sec.Data[fileCACert],
		CAKey:     sec.Data[fileCAKey],
		CertChain: sec.Data[fileCertChain],
		RootCert:  sec.Data[fileRootCert],
		Source:    where,
		version:   sec.ResourceVersion,
	}
	if sec.Name == SelfSignedSecret {
		p.NextCACert, p.NextCAKey = sec.Data[fileNextCACert], sec.Data[fileNextCAKey]
		p.PreviousRoots = sec.Data[filePreviousRoots]
	}
	if len(p.CACert) == 0 {
		return KeyCertPEM{}, fmt.Errorf("%s has no %s", where, fileCACert)
	}
	if len(p.CAKey) == 0 {
		return KeyCertPEM{}, fmt.Errorf("%s has no %s", where, fileCAKey)
	}
	return p, nil
}
