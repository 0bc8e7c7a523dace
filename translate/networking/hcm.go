package networking

import (
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
)

// NormalizePaths applies the mesh's path normalization to a connection
// manager, so that route matches see the path Istio's proxies would:
// RFC 3986 normalization by default, optionally merging slashes and
// decoding escaped ones.
func NormalizePaths(hcm *hcmv3.HttpConnectionManager, mesh *meshv1alpha1.MeshConfig) {
	switch mesh.GetPathNormalization().GetNormalization() {
	case meshv1alpha1.MeshConfig_ProxyPathNormalization_NONE:
		hcm.NormalizePath = wrapperspb.Bool(false)
	case meshv1alpha1.MeshConfig_ProxyPathNormalization_MERGE_SLASHES:
		hcm.NormalizePath, hcm.MergeSlashes = wrapperspb.Bool(true), true
	case meshv1alpha1.MeshConfig_ProxyPathNormalization_DECODE_AND_MERGE_SLASHES:
		hcm.NormalizePath, hcm.MergeSlashes = wrapperspb.Bool(true), true
		hcm.PathWithEscapedSlashesAction = hcmv3.HttpConnectionManager_UNESCAPE_AND_FORWARD
	default: // DEFAULT and BASE: RFC 3986 normalization.
		hcm.NormalizePath = wrapperspb.Bool(true)
	}
}
