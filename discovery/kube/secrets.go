package kube

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"

	"github.com/pilotlight/pilotlight/discovery/convert"
)

// Secrets are watched only when Options.Secrets is set: reading Secrets is
// the most sensitive permission pilotlight can hold, and it is needed only
// to serve gateway credentialName certificates. Only the types that can
// hold a credential (kubernetes.io/tls and Opaque) are listed, each
// through its own factory because a field selector matches one type, and
// the transform keeps nothing of a Secret but the keys a credential is
// read from, so unrelated Secrets' contents never stay in memory. Secret
// data is never logged: problems name the key, not its value.

// newSecretFactories returns one factory per watched namespace and
// credential Secret type.
func newSecretFactories(o Options, namespaces []string) []scoped[informers.SharedInformerFactory] {
	var out []scoped[informers.SharedInformerFactory]
	for _, ns := range namespaces {
		for _, typ := range convert.CredentialSecretTypes {
			selector := fields.OneTermEqualSelector("type", string(typ)).String()
			out = append(out, scoped[informers.SharedInformerFactory]{ns, informers.NewSharedInformerFactoryWithOptions(o.Kube, 0,
				informers.WithNamespace(ns),
				informers.WithTweakListOptions(func(lo *metav1.ListOptions) { lo.FieldSelector = selector }),
				informers.WithTransform(slim))})
		}
	}
	return out
}

// startSecrets registers and starts the Secret informers, if any.
func (i *informerSet) startSecrets(ctx context.Context) {
	s := i.s
	h := s.objectHandler()
	for _, f := range i.secrets {
		s.register(scopeName("Secrets", f.namespace), f.factory.Core().V1().Secrets().Informer(), h)
		f.factory.Start(ctx.Done())
	}
}

// slimSecret keeps a Secret's identity, type and the data a credential is
// read from; an Opaque Secret that holds none of it keeps no data at all.
func slimSecret(sec *corev1.Secret) *corev1.Secret {
	out := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:            sec.Name,
			Namespace:       sec.Namespace,
			UID:             sec.UID,
			ResourceVersion: sec.ResourceVersion,
		},
		Type: sec.Type,
	}
	for _, k := range convert.CredentialKeys {
		if v, ok := sec.Data[k]; ok {
			if out.Data == nil {
				out.Data = map[string][]byte{}
			}
			out.Data[k] = v
		}
	}
	return out
}
