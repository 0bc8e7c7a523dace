package model

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
)

// Namespace is a Kubernetes namespace as far as the mesh cares: its labels.
type Namespace struct {
	Name   string
	Labels map[string]string
}

// Snapshot is one immutable, indexed state of the mesh. Every field is
// read-only after Build; translation reads it concurrently from many
// goroutines without locks.
type Snapshot struct {
	// Version is a content hash: equal content, equal version.
	Version string

	mesh        *meshv1alpha1.MeshConfig
	identities  *identityMemo
	namespaces  map[string]*Namespace
	services    []*Service // sorted by hostname
	byHost      map[string]*Service
	endpoints   map[string][]*Endpoint // hostname → endpoints, sorted
	byAddress   map[string][]ServiceInstance
	configs     map[Kind][]*Config // sorted by namespace/name
	configByKey map[ConfigKey]*Config
	// routable are the VirtualServices that route hosts, delegates merged
	// in (delegate.go), sorted by namespace and name.
	routable []*Config
	// labelKeys are the workload label keys that some selector or
	// sourceLabels match reads (labels.go), sorted.
	labelKeys   []string
	locality    bool   // endpoints may depend on the client's locality
	suffix      string // cluster domain, e.g. cluster.local
	hostIndex   map[Kind]*hostIndex
	hasSubsets  bool
	anyExportTo bool // some service is not exported everywhere
	credentials map[CredentialKey]*Credential
	// jwks are fetched key sets by source (jwks.go).
	jwks map[string]string

	// Content hashes per item, for Diff.
	serviceHash  map[string]uint64
	endpointHash map[string]uint64
	configHash   map[ConfigKey]uint64
	nsHash       map[string]uint64
	meshHash     uint64
	credHash     map[CredentialKey]uint64
	jwksHash     map[string]uint64
}

// Mesh returns the mesh settings. Never nil.
func (s *Snapshot) Mesh() *meshv1alpha1.MeshConfig { return s.mesh }

// Services returns every service, sorted by hostname.
func (s *Snapshot) Services() []*Service { return s.services }

// Service returns the service with that hostname.
func (s *Snapshot) Service(hostname string) *Service { return s.byHost[hostname] }

// Endpoints returns the endpoints of a service, all ports, sorted by port
// name, address and port.
func (s *Snapshot) Endpoints(hostname string) []*Endpoint { return s.endpoints[hostname] }

// EndpointsForPort returns the endpoints serving one port of a service.
func (s *Snapshot) EndpointsForPort(hostname, portName string) []*Endpoint {
	all := s.endpoints[hostname]
	lo, _ := slices.BinarySearchFunc(all, portName, func(e *Endpoint, n string) int { return cmp.Compare(e.ServicePortName, n) })
	hi := lo
	for hi < len(all) && all[hi].ServicePortName == portName {
		hi++
	}
	return all[lo:hi]
}

// InstancesAt returns the service instances whose endpoint address is one
// of the given IPs: the services a workload at those addresses serves.
// Sorted by service hostname, then port.
func (s *Snapshot) InstancesAt(ips []string) []ServiceInstance {
	if len(ips) == 1 {
		return s.byAddress[ips[0]]
	}
	var out []ServiceInstance
	for _, ip := range ips {
		out = append(out, s.byAddress[ip]...)
	}
	slices.SortStableFunc(out, compareInstances)
	return out
}

// Namespace returns a namespace by name, or nil.
func (s *Snapshot) Namespace(name string) *Namespace { return s.namespaces[name] }

// Configs returns every config of a kind, sorted by namespace and name.
func (s *Snapshot) Configs(kind Kind) []*Config { return s.configs[kind] }

// Config returns one config by key, or nil.
func (s *Snapshot) Config(key ConfigKey) *Config { return s.configByKey[key] }

// Counts returns the number of services, endpoints and configs: for logs
// and metrics.
func (s *Snapshot) Counts() (services, endpoints, configs int) {
	for _, eps := range s.endpoints {
		endpoints += len(eps)
	}
	return len(s.services), endpoints, len(s.configByKey)
}

// Builder assembles a Snapshot. It is not safe for concurrent use; the
// objects handed to it become owned by the Snapshot and must not be changed
// afterwards.
type Builder struct {
	mesh       *meshv1alpha1.MeshConfig
	namespaces map[string]*Namespace
	services   map[string]*Service
	endpoints  map[string][]*Endpoint
	configs    map[ConfigKey]*Config
	// credentials are TLS credentials from Secrets (credential.go).
	credentials map[CredentialKey]*Credential
}

// NewBuilder returns an empty builder with default mesh settings.
func NewBuilder() *Builder {
	return &Builder{
		mesh:        DefaultMeshConfig(),
		namespaces:  map[string]*Namespace{},
		services:    map[string]*Service{},
		endpoints:   map[string][]*Endpoint{},
		configs:     map[ConfigKey]*Config{},
		credentials: map[CredentialKey]*Credential{},
	}
}

// SetMesh replaces the mesh settings; nil restores the defaults.
func (b *Builder) SetMesh(m *meshv1alpha1.MeshConfig) {
	if m == nil {
		m = DefaultMeshConfig()
	}
	b.mesh = m
}

// AddNamespace records a namespace.
func (b *Builder) AddNamespace(ns *Namespace) { b.namespaces[ns.Name] = ns }

// AddService records a service; a later service with the same hostname
// replaces an earlier one.
func (b *Builder) AddService(svc *Service) { b.services[svc.Hostname] = svc }

// AddEndpoints appends endpoints of a service. Endpoints of services that
// are never added are dropped by Build.
func (b *Builder) AddEndpoints(eps ...*Endpoint) {
	for _, e := range eps {
		b.endpoints[e.ServiceHostname] = append(b.endpoints[e.ServiceHostname], e)
	}
}

// AddConfig records an Istio config object, replacing one with the same key.
func (b *Builder) AddConfig(c *Config) { b.configs[c.Key()] = c }

// Build indexes everything and computes content hashes.
func (b *Builder) Build() *Snapshot {
	s := &Snapshot{
		mesh:         b.mesh,
		namespaces:   b.namespaces,
		byHost:       b.services,
		endpoints:    make(map[string][]*Endpoint, len(b.endpoints)),
		byAddress:    map[string][]ServiceInstance{},
		configs:      map[Kind][]*Config{},
		configByKey:  b.configs,
		serviceHash:  make(map[string]uint64, len(b.services)),
		endpointHash: make(map[string]uint64, len(b.endpoints)),
		configHash:   make(map[ConfigKey]uint64, len(b.configs)),
		nsHash:       make(map[string]uint64, len(b.namespaces)),
		credentials:  b.credentials,
		credHash:     make(map[CredentialKey]uint64, len(b.credentials)),
		identities:   &identityMemo{},
	}
	s.meshHash = hashProto(b.mesh)
	for key, c := range b.credentials {
		s.credHash[key] = hashCredential(c)
	}
	for name, ns := range b.namespaces {
		s.nsHash[name] = hashJSON(ns)
	}
	for host, svc := range b.services {
		s.services = append(s.services, svc)
		s.serviceHash[host] = hashJSON(svc)
	}
	slices.SortFunc(s.services, func(a, b *Service) int { return cmp.Compare(a.Hostname, b.Hostname) })
	s.suffix = detectDomainSuffix(s.services)

	for host, eps := range b.endpoints {
		svc := b.services[host]
		if svc == nil {
			continue
		}
		eps = slices.Clone(eps)
		slices.SortFunc(eps, compareEndpoints)
		eps = slices.CompactFunc(eps, func(a, b *Endpoint) bool { return compareEndpoints(a, b) == 0 })
		s.endpoints[host] = eps
		s.endpointHash[host] = hashJSON(eps)
		for _, e := range eps {
			port, ok := svc.PortByName(e.ServicePortName)
			if !ok {
				continue
			}
			s.byAddress[e.Address] = append(s.byAddress[e.Address], ServiceInstance{Service: svc, Port: port, Endpoint: e})
		}
	}
	for _, insts := range s.byAddress {
		slices.SortStableFunc(insts, compareInstances)
	}

	for key, c := range b.configs {
		s.configs[key.Kind] = append(s.configs[key.Kind], c)
		s.configHash[key] = hashConfig(c)
	}
	for _, list := range s.configs {
		slices.SortFunc(list, func(a, b *Config) int {
			return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
		})
	}
	s.routable = s.routableVirtualServices()
	s.labelKeys = s.selectedLabelKeys()
	s.locality = s.localityAware()
	s.hostIndex = map[Kind]*hostIndex{
		KindVirtualService: s.indexHosts(s.routable, func(c *Config) []string {
			return AsVirtualService(c).GetHosts()
		}),
		KindDestinationRule: s.indexHosts(s.configs[KindDestinationRule], func(c *Config) []string {
			return []string{AsDestinationRule(c).GetHost()}
		}),
	}
	for _, svc := range s.services {
		s.anyExportTo = s.anyExportTo || len(svc.ExportTo) > 0
	}
	for _, c := range s.configs[KindDestinationRule] {
		s.hasSubsets = s.hasSubsets || len(AsDestinationRule(c).GetSubsets()) > 0
	}
	s.Version = s.contentVersion()
	return s
}

// contentVersion folds every item hash, in a stable order, into one.
func (s *Snapshot) contentVersion() string {
	h := fnv.New64a()
	var buf [8]byte
	put := func(tag string, key string, v uint64) {
		h.Write([]byte(tag))
		h.Write([]byte(key))
		binary.LittleEndian.PutUint64(buf[:], v)
		h.Write(buf[:])
	}
	put("mesh", "", s.meshHash)
	for _, k := range sortedKeys(s.nsHash) {
		put("ns", k, s.nsHash[k])
	}
	for _, k := range sortedKeys(s.serviceHash) {
		put("svc", k, s.serviceHash[k])
	}
	for _, k := range sortedKeys(s.endpointHash) {
		put("eps", k, s.endpointHash[k])
	}
	keys := make([]ConfigKey, 0, len(s.configHash))
	for k := range s.configHash {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareConfigKeys)
	for _, k := range keys {
		put("cfg", k.String(), s.configHash[k])
	}
	creds := make([]CredentialKey, 0, len(s.credHash))
	for k := range s.credHash {
		creds = append(creds, k)
	}
	slices.SortFunc(creds, func(a, b CredentialKey) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	for _, k := range creds {
		put("cred", k.String(), s.credHash[k])
	}
	for _, k := range sortedKeys(s.jwksHash) {
		put("jwks", k, s.jwksHash[k])
	}
	return strconv.FormatUint(h.Sum64(), 16)
}

func compareEndpoints(a, b *Endpoint) int {
	return cmp.Or(
		cmp.Compare(a.ServicePortName, b.ServicePortName),
		cmp.Compare(a.Address, b.Address),
		cmp.Compare(a.Port, b.Port),
	)
}

func compareInstances(a, b ServiceInstance) int {
	return cmp.Or(
		cmp.Compare(a.Service.Hostname, b.Service.Hostname),
		cmp.Compare(a.Port.Number, b.Port.Number),
		cmp.Compare(a.Endpoint.Port, b.Endpoint.Port),
	)
}

func compareConfigKeys(a, b ConfigKey) int {
	return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// hashJSON hashes a plain Go value through encoding/json, which writes map
// keys in sorted order and so is deterministic for the model's types.
func hashJSON(v any) uint64 {
	h := fnv.New64a()
	if err := json.NewEncoder(h).Encode(v); err != nil {
		// The model's types are plain data; failing to encode them is a bug.
		panic("model: hashing " + err.Error())
	}
	return h.Sum64()
}

func hashProto(m proto.Message) uint64 {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		panic("model: hashing " + err.Error())
	}
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64()
}

func hashConfig(c *Config) uint64 {
	h := fnv.New64a()
	var meta strings.Builder
	meta.WriteString(c.Key().String())
	for _, m := range []map[string]string{c.Labels, c.Annotations} {
		for _, k := range sortedKeys(m) {
			meta.WriteString("\x00" + k + "=" + m[k])
		}
		meta.WriteString("\x01")
	}
	h.Write([]byte(meta.String()))
	var buf [8]byte
	binary.LittleEndian.PutUint64(buf[:], hashProto(c.Spec))
	h.Write(buf[:])
	return h.Sum64()
}
