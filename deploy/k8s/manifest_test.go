// Package k8s holds the Kubernetes manifests (glsotel-demo.yaml) and this
// test, which decodes them strictly against the API types and checks their
// wiring against deploy/compose/docker-compose.yml and the variables the
// glsotel CLI reads. No cluster is needed (nor used).
package k8s

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

const (
	manifestPath = "glsotel-demo.yaml"
	composePath  = "../compose/docker-compose.yml"
	// The sources of the CLI's environment variables: GLSOTEL_* in the
	// command, OTEL_* in the exporter's ConfigFromEnv.
	cliMainPath      = "../../cmd/glsotel/main.go"
	exporterConfPath = "../../exporter/config.go"
)

// differByDesign are the sidecar variables whose values differ between
// compose and Kubernetes: compose runs on the host's network (loopback
// addresses, one metrics port per sidecar), Kubernetes gives each pod its
// own network and reaches Jaeger by its Service name. Every other variable
// must have the same value in both.
var differByDesign = []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "GLSOTEL_METRICS_ADDR"}

// minSidecarMemory is the least memory limit for the sidecar: ~40 MiB RSS
// plus ~109 MiB of BPF maps charged to its memory cgroup, with headroom.
var minSidecarMemory = resource.MustParse("256Mi")

// manifest is the decoded glsotel-demo.yaml.
type manifest struct {
	Deployments []*appsv1.Deployment
	Services    []*corev1.Service
}

func (m *manifest) deployment(name string) *appsv1.Deployment {
	for _, d := range m.Deployments {
		if d.Name == name {
			return d
		}
	}
	return nil
}

func (m *manifest) service(name string) *corev1.Service {
	for _, s := range m.Services {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// selected is the Deployments whose pods s selects.
func (m *manifest) selected(s *corev1.Service) []*appsv1.Deployment {
	if len(s.Spec.Selector) == 0 {
		return nil
	}
	sel := labels.SelectorFromSet(s.Spec.Selector)
	var out []*appsv1.Deployment
	for _, d := range m.Deployments {
		if sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			out = append(out, d)
		}
	}
	return out
}

// splitDocuments returns the YAML documents of data ("---" separated),
// leaving out empty ones (only comments or whitespace).
func splitDocuments(data []byte) ([][]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		j, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, err
		}
		if string(j) != "null" {
			docs = append(docs, doc)
		}
	}
}

// strictUnmarshal decodes one YAML document into obj the way the API
// server reads what kubectl sends: YAML to JSON with no target type (so an
// unquoted 500 stays a number and fails for a string field), then
// case-sensitive JSON that rejects unknown and duplicate fields.
// (sigs.k8s.io/yaml.UnmarshalStrict is looser: its encoding/json matches
// field names case-insensitively, and it converts scalars to the target's
// type.)
func strictUnmarshal(doc []byte, obj any) error {
	j, err := yaml.YAMLToJSONStrict(doc) // duplicate keys are an error
	if err != nil {
		return err
	}
	strict, err := sigsjson.UnmarshalStrict(j, obj, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

// decodeManifest decodes every document of data by its apiVersion and kind
// into the typed object; any other kind, an unknown or misspelled field, a
// wrong type or a duplicate (kind, name) is an error.
func decodeManifest(data []byte) (*manifest, error) {
	docs, err := splitDocuments(data)
	if err != nil {
		return nil, err
	}
	m := &manifest{}
	seen := map[string]bool{}
	for i, doc := range docs {
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		var meta *metav1.ObjectMeta
		switch gvk := tm.APIVersion + "/" + tm.Kind; gvk {
		case "apps/v1/Deployment":
			d := &appsv1.Deployment{}
			err, meta = strictUnmarshal(doc, d), &d.ObjectMeta
			m.Deployments = append(m.Deployments, d)
		case "v1/Service":
			s := &corev1.Service{}
			err, meta = strictUnmarshal(doc, s), &s.ObjectMeta
			m.Services = append(m.Services, s)
		default:
			return nil, fmt.Errorf("document %d: apiVersion %q kind %q: not one this test decodes (add it)", i+1, tm.APIVersion, tm.Kind)
		}
		if err != nil {
			return nil, fmt.Errorf("document %d (%s): %w", i+1, tm.Kind, err)
		}
		key := tm.Kind + "/" + meta.Name
		if meta.Name == "" {
			return nil, fmt.Errorf("document %d (%s): no metadata.name", i+1, tm.Kind)
		}
		if seen[key] {
			return nil, fmt.Errorf("document %d: %s defined twice", i+1, key)
		}
		seen[key] = true
	}
	return m, nil
}

func loadManifest(t *testing.T) *manifest {
	t.Helper()
	data, err := os.ReadFile(manifestPath)
	if err != nil {
		t.Fatal(err)
	}
	m, err := decodeManifest(data)
	if err != nil {
		t.Fatalf("%s: %v", manifestPath, err)
	}
	return m
}

// compose is the part of the compose file the manifests mirror.
type compose struct {
	Services map[string]composeService `json:"services"`
}

type composeService struct {
	Image       string            `json:"image"`
	Entrypoint  []string          `json:"entrypoint"`
	PID         string            `json:"pid"`
	CapAdd      []string          `json:"cap_add"`
	CapDrop     []string          `json:"cap_drop"`
	SecurityOpt []string          `json:"security_opt"`
	Volumes     []string          `json:"volumes"`
	Environment map[string]string `json:"environment"`
}

// composeDefaults replaces ${VAR:-default}, ${VAR-default} and ${VAR} by
// the default (what compose uses when VAR is unset).
var composeDefaults = regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*(?::?-([^}]*))?\}`)

func expand(s string) string {
	return composeDefaults.ReplaceAllString(s, "$1")
}

// loadCompose reads the compose file. sigs.k8s.io/yaml (go.yaml.in/yaml/v2
// underneath) resolves the anchor and the `<<: *glsotel` merge key, so the
// sidecar services carry x-glsotel's settings.
func loadCompose(t *testing.T) compose {
	t.Helper()
	data, err := os.ReadFile(composePath)
	if err != nil {
		t.Fatal(err)
	}
	j, err := yaml.YAMLToJSON(data)
	if err != nil {
		t.Fatalf("%s: %v", composePath, err)
	}
	var c compose
	if err := json.Unmarshal(j, &c); err != nil {
		t.Fatalf("%s: %v", composePath, err)
	}
	for name, s := range c.Services {
		s.Image = expand(s.Image)
		for k, v := range s.Environment {
			s.Environment[k] = expand(v)
		}
		for i, v := range s.Volumes {
			s.Volumes[i] = expand(v)
		}
		c.Services[name] = s
	}
	if len(c.sidecars()) == 0 {
		t.Fatalf("%s: no sidecar services (pid: service:APP)", composePath)
	}
	for app, s := range c.sidecars() {
		if s.Image == "" || len(s.CapAdd) == 0 {
			t.Fatalf("%s: sidecar of %s has no image or cap_add: the <<: *glsotel merge was not resolved", composePath, app)
		}
	}
	return c
}

// sidecars maps each app service to its glsotel sidecar service (the one
// that joins its PID namespace).
func (c compose) sidecars() map[string]composeService {
	out := map[string]composeService{}
	for _, s := range c.Services {
		if app, ok := strings.CutPrefix(s.PID, "service:"); ok {
			out[app] = s
		}
	}
	return out
}

// sidecarImage is the image of the compose sidecars (all the same).
func (c compose) sidecarImage(t *testing.T) string {
	t.Helper()
	var img string
	for app, s := range c.sidecars() {
		if img != "" && s.Image != img {
			t.Fatalf("compose sidecars use two images: %s and %s (%s)", img, s.Image, app)
		}
		img = s.Image
	}
	return img
}

// envName is a variable the CLI reads, as it appears in the source.
var envName = regexp.MustCompile(`^(GLSOTEL|OTEL)_[A-Z0-9_]+$`)

// cliVariables returns the environment variables the CLI reads: every
// string literal that is exactly a GLSOTEL_* or OTEL_* name in
// cmd/glsotel/main.go (os.Getenv("GLSOTEL_TARGET_EXE"), ...) and
// exporter/config.go (getenv("OTEL_SERVICE_NAME"), e.bool("OTEL_SDK_DISABLED"),
// ...). Those files read the environment and nothing else in the agent
// does; a literal that is exactly a variable name is there to be read (or
// to name the variable in an error). Comments and messages that mention a
// name inside a sentence do not match.
func cliVariables(t *testing.T) map[string]bool {
	t.Helper()
	vars := map[string]bool{}
	for _, src := range []struct{ path, prefix string }{
		{cliMainPath, "GLSOTEL_"},
		{exporterConfPath, "OTEL_"},
	} {
		f, err := parser.ParseFile(token.NewFileSet(), src.path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		ast.Inspect(f, func(node ast.Node) bool {
			lit, ok := node.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			if s, err := strconv.Unquote(lit.Value); err == nil && envName.MatchString(s) {
				vars[s] = true
				if strings.HasPrefix(s, src.prefix) {
					n++
				}
			}
			return true
		})
		if n == 0 {
			t.Fatalf("%s: found no %s* variable names; has the code moved?", src.path, src.prefix)
		}
	}
	return vars
}

// sidecarOf returns the pod's glsotel container and its app container (the
// only other one).
func sidecarOf(t *testing.T, d *appsv1.Deployment, image string) (sidecar, app *corev1.Container) {
	t.Helper()
	cs := d.Spec.Template.Spec.Containers
	for i := range cs {
		if cs[i].Image == image {
			if sidecar != nil {
				t.Fatalf("deployment %s: two glsotel containers", d.Name)
			}
			sidecar = &cs[i]
		}
	}
	if sidecar == nil {
		return nil, nil
	}
	if len(cs) != 2 {
		t.Fatalf("deployment %s: want the app and the glsotel sidecar, have %d containers", d.Name, len(cs))
	}
	for i := range cs {
		if &cs[i] != sidecar {
			app = &cs[i]
		}
	}
	return sidecar, app
}

func envMap(t *testing.T, where string, env []corev1.EnvVar) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, e := range env {
		if _, dup := m[e.Name]; dup {
			t.Errorf("%s: %s set twice", where, e.Name)
		}
		if e.ValueFrom != nil {
			t.Errorf("%s: %s uses valueFrom; this test compares literal values", where, e.Name)
		}
		m[e.Name] = e.Value
	}
	return m
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b) && len(slices.Compact(a)) == len(a)
}

func capNames(cs []corev1.Capability) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = string(c)
	}
	return out
}

// containerPort finds the port target (a name or a number) among the pod's
// containers.
func containerPort(pod *corev1.PodSpec, target intstr.IntOrString) (*corev1.ContainerPort, bool) {
	for _, c := range pod.Containers {
		for i, p := range c.Ports {
			if target.Type == intstr.String && p.Name == target.StrVal ||
				target.Type == intstr.Int && p.ContainerPort == target.IntVal {
				return &c.Ports[i], true
			}
		}
	}
	return nil, false
}

// TestManifestDecodesStrictly decodes the manifest and checks what the API
// server would validate that the types alone do not: names, labels,
// selectors, ports, variable names, volume references.
func TestManifestDecodesStrictly(t *testing.T) {
	m := loadManifest(t)
	var deps, svcs []string
	for _, d := range m.Deployments {
		deps = append(deps, d.Name)
	}
	for _, s := range m.Services {
		svcs = append(svcs, s.Name)
	}
	want := []string{"back", "front", "jaeger", "postgres"}
	if !sameSet(deps, want) || !sameSet(svcs, want) {
		t.Fatalf("deployments %v, services %v; want %v each", deps, svcs, want)
	}
	check := func(where string, errs []string) {
		for _, e := range errs {
			t.Errorf("%s: %s", where, e)
		}
	}
	checkLabels := func(where string, ls map[string]string) {
		for k, v := range ls {
			check(where+" label key "+k, validation.IsQualifiedName(k))
			check(where+" label value "+v, validation.IsValidLabelValue(v))
		}
	}
	for _, s := range m.Services {
		check("service name "+s.Name, validation.IsDNS1035Label(s.Name))
		checkLabels("service "+s.Name, s.Labels)
		checkLabels("service "+s.Name+" selector", s.Spec.Selector)
		for _, p := range s.Spec.Ports {
			check("service "+s.Name+" port "+p.Name, validation.IsValidPortName(p.Name))
			check("service "+s.Name+" port "+p.Name, validation.IsValidPortNum(int(p.Port)))
		}
	}
	for _, d := range m.Deployments {
		where := "deployment " + d.Name
		check(where, validation.IsDNS1123Subdomain(d.Name))
		checkLabels(where, d.Labels)
		checkLabels(where+" pod", d.Spec.Template.Labels)
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || d.Spec.Selector == nil || sel.Empty() {
			t.Errorf("%s: selector %v: %v", where, d.Spec.Selector, err)
		} else if !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			t.Errorf("%s: selector %v does not match its pod labels %v", where, d.Spec.Selector, d.Spec.Template.Labels)
		}
		pod := &d.Spec.Template.Spec
		volumes := map[string]bool{}
		for _, v := range pod.Volumes {
			check(where+" volume "+v.Name, validation.IsDNS1123Label(v.Name))
			if volumes[v.Name] {
				t.Errorf("%s: volume %s defined twice", where, v.Name)
			}
			volumes[v.Name] = true
		}
		names, portNames := map[string]bool{}, map[string]bool{}
		for _, c := range pod.Containers {
			cw := where + " container " + c.Name
			check(cw, validation.IsDNS1123Label(c.Name))
			if names[c.Name] {
				t.Errorf("%s: container name used twice", cw)
			}
			names[c.Name] = true
			if c.Image == "" {
				t.Errorf("%s: no image", cw)
			}
			for _, p := range c.Ports {
				check(cw+" port "+p.Name, validation.IsValidPortName(p.Name))
				check(cw+" port "+p.Name, validation.IsValidPortNum(int(p.ContainerPort)))
				if portNames[p.Name] {
					t.Errorf("%s: port name %s used twice in the pod", cw, p.Name)
				}
				portNames[p.Name] = true
			}
			for _, e := range c.Env {
				check(cw+" env "+e.Name, validation.IsEnvVarName(e.Name))
			}
			for _, vm := range c.VolumeMounts {
				if !volumes[vm.Name] {
					t.Errorf("%s: mounts volume %s, which the pod does not define", cw, vm.Name)
				}
			}
			if sc := c.SecurityContext; sc != nil && sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
				if sc.Privileged != nil && *sc.Privileged || sc.Capabilities != nil && slices.Contains(sc.Capabilities.Add, "SYS_ADMIN") {
					t.Errorf("%s: allowPrivilegeEscalation false with privileged or SYS_ADMIN (the API server rejects it)", cw)
				}
			}
		}
	}
}

// TestMirrorsCompose: every compose service that is not a sidecar is a
// Deployment with a container of the same name and image (and command,
// where compose sets the entrypoint); every compose sidecar is a glsotel
// container in its app's pod, and every glsotel container has one.
func TestMirrorsCompose(t *testing.T) {
	m, c := loadManifest(t), loadCompose(t)
	sidecarImage := c.sidecarImage(t)
	for name, s := range c.Services {
		if s.PID != "" {
			continue // a sidecar; below
		}
		d := m.deployment(name)
		if d == nil {
			t.Errorf("compose service %s: no Deployment %s", name, name)
			continue
		}
		if m.service(name) == nil {
			t.Errorf("compose service %s: no Service %s", name, name)
		}
		var app *corev1.Container
		for i, ct := range d.Spec.Template.Spec.Containers {
			if ct.Name == name {
				app = &d.Spec.Template.Spec.Containers[i]
			}
		}
		if app == nil {
			t.Errorf("deployment %s: no container %s", name, name)
			continue
		}
		if app.Image != s.Image {
			t.Errorf("deployment %s: image %s, compose %s", name, app.Image, s.Image)
		}
		if s.Entrypoint != nil && !slices.Equal(app.Command, s.Entrypoint) {
			t.Errorf("deployment %s: command %q, compose entrypoint %q", name, app.Command, s.Entrypoint)
		}
	}
	sidecars := c.sidecars()
	for _, d := range m.Deployments {
		sc, _ := sidecarOf(t, d, sidecarImage)
		if _, inCompose := sidecars[d.Name]; (sc != nil) != inCompose {
			t.Errorf("deployment %s: glsotel sidecar %v, compose sidecar %v", d.Name, sc != nil, inCompose)
		}
	}
}

// TestSidecars checks each glsotel container against its compose twin, the
// CLI's variables, and the rest of the manifest.
func TestSidecars(t *testing.T) {
	m, c := loadManifest(t), loadCompose(t)
	sidecarImage := c.sidecarImage(t)
	vars := cliVariables(t)
	t.Logf("variables the CLI reads: %s", strings.Join(sortedKeys(vars), " "))
	n := 0
	for _, d := range m.Deployments {
		sc, app := sidecarOf(t, d, sidecarImage)
		if sc == nil {
			continue
		}
		n++
		t.Run(d.Name, func(t *testing.T) {
			checkSidecar(t, m, d, sc, app, c.sidecars()[d.Name], vars)
		})
	}
	if n == 0 {
		t.Fatalf("no Deployment has a %s container", sidecarImage)
	}
}

func checkSidecar(t *testing.T, m *manifest, d *appsv1.Deployment, sc, app *corev1.Container, twin composeService, vars map[string]bool) {
	pod := &d.Spec.Template.Spec
	if pod.ShareProcessNamespace == nil || !*pod.ShareProcessNamespace {
		t.Errorf("shareProcessNamespace is not true: the sidecar cannot see %s", app.Name)
	}

	// Privileges: exactly compose's.
	sec := sc.SecurityContext
	if sec == nil || sec.Capabilities == nil {
		t.Fatalf("sidecar %s: no securityContext.capabilities", sc.Name)
	}
	if got := capNames(sec.Capabilities.Add); !sameSet(got, twin.CapAdd) {
		t.Errorf("capabilities.add %v, compose cap_add %v", got, twin.CapAdd)
	}
	if got := capNames(sec.Capabilities.Drop); !sameSet(got, twin.CapDrop) {
		t.Errorf("capabilities.drop %v, compose cap_drop %v", got, twin.CapDrop)
	}
	if sec.Privileged != nil && *sec.Privileged {
		t.Errorf("sidecar is privileged; compose is not")
	}
	if sec.RunAsUser == nil || *sec.RunAsUser != 0 {
		t.Errorf("runAsUser %v, want 0", sec.RunAsUser)
	}
	seccomp, apparmor := sec.SeccompProfile, sec.AppArmorProfile
	if !slices.ContainsFunc(twin.SecurityOpt, func(o string) bool { return strings.HasPrefix(strings.ToLower(o), "seccomp") }) &&
		seccomp != nil && seccomp.Type == corev1.SeccompProfileTypeUnconfined {
		t.Errorf("seccompProfile Unconfined; compose keeps the default profile")
	}
	for _, opt := range twin.SecurityOpt {
		switch strings.ToLower(opt) {
		case "seccomp=unconfined", "seccomp:unconfined":
			if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeUnconfined {
				t.Errorf("compose has %s; seccompProfile is %+v", opt, seccomp)
			}
		case "apparmor=unconfined", "apparmor:unconfined":
			if apparmor == nil || apparmor.Type != corev1.AppArmorProfileTypeUnconfined {
				t.Errorf("compose has %s; appArmorProfile is %+v", opt, apparmor)
			}
		default:
			t.Errorf("compose security_opt %q: not mapped by this test", opt)
		}
	}

	// Mounts: compose's host volumes, and a writable /run/glsotel.
	mounts := map[string]corev1.VolumeMount{}
	for _, vm := range sc.VolumeMounts {
		mounts[vm.MountPath] = vm
	}
	volume := func(name string) *corev1.Volume {
		for i := range pod.Volumes {
			if pod.Volumes[i].Name == name {
				return &pod.Volumes[i]
			}
		}
		return nil
	}
	if len(twin.Volumes) == 0 {
		t.Errorf("compose sidecar has no volumes (the cgroup mount)")
	}
	for _, cv := range twin.Volumes {
		parts := strings.Split(cv, ":")
		if len(parts) < 2 || len(parts) > 3 || !strings.HasPrefix(parts[0], "/") {
			t.Errorf("compose volume %q: want /HOST:TARGET[:MODE]", cv)
			continue
		}
		ro := len(parts) == 3 && slices.Contains(strings.Split(parts[2], ","), "ro")
		vm, ok := mounts[parts[1]]
		if !ok {
			t.Errorf("compose mounts %s at %s; the sidecar mounts nothing there", parts[0], parts[1])
			continue
		}
		if vm.ReadOnly != ro {
			t.Errorf("%s: readOnly %v, compose %q", vm.MountPath, vm.ReadOnly, cv)
		}
		if v := volume(vm.Name); v == nil || v.HostPath == nil || v.HostPath.Path != parts[0] {
			t.Errorf("%s: volume %s is not hostPath %s", vm.MountPath, vm.Name, parts[0])
		} else if v.HostPath.Type == nil || *v.HostPath.Type != corev1.HostPathDirectory {
			t.Errorf("%s: hostPath type %v, want Directory (fail rather than create an empty one)", vm.MountPath, v.HostPath.Type)
		}
	}
	if sec.ReadOnlyRootFilesystem != nil && *sec.ReadOnlyRootFilesystem {
		vm, ok := mounts["/run/glsotel"]
		if !ok || vm.ReadOnly {
			t.Errorf("read-only root filesystem without a writable mount at /run/glsotel (the agent's cgroup2 mount point)")
		} else if v := volume(vm.Name); v == nil || v.EmptyDir == nil {
			t.Errorf("/run/glsotel: volume %s is not an emptyDir", vm.Name)
		}
	}

	// Resources.
	if lim, ok := sc.Resources.Limits[corev1.ResourceMemory]; !ok || lim.Cmp(minSidecarMemory) < 0 {
		t.Errorf("memory limit %v, want at least %v (RSS + BPF maps)", sc.Resources.Limits.Memory(), &minSidecarMemory)
	}
	if _, ok := sc.Resources.Requests[corev1.ResourceMemory]; !ok {
		t.Errorf("no memory request")
	}
	for name, req := range sc.Resources.Requests {
		if lim, ok := sc.Resources.Limits[name]; ok && req.Cmp(lim) > 0 {
			t.Errorf("%s request %v above its limit %v", name, &req, &lim)
		}
	}

	// Environment: names the CLI reads, the same as compose's.
	env := envMap(t, "sidecar "+d.Name, sc.Env)
	for _, name := range sortedKeys(env) {
		if !vars[name] {
			t.Errorf("env %s: the CLI does not read it (not in %s or %s)", name, cliMainPath, exporterConfPath)
		}
	}
	for _, name := range sortedKeys(twin.Environment) {
		if !vars[name] {
			t.Errorf("compose env %s: the CLI does not read it", name)
		}
	}
	if k, cmp := sortedKeys(env), sortedKeys(twin.Environment); !slices.Equal(k, cmp) {
		t.Errorf("env names %v, compose %v", k, cmp)
	}
	for name, v := range env {
		cv, ok := twin.Environment[name]
		if ok && v != cv && !slices.Contains(differByDesign, name) {
			t.Errorf("env %s=%q, compose %q (only %v may differ)", name, v, cv, differByDesign)
		}
	}

	// GLSOTEL_TARGET_EXE is what the app container runs.
	exe := env["GLSOTEL_TARGET_EXE"]
	if exe == "" {
		t.Errorf("no GLSOTEL_TARGET_EXE")
	} else if len(app.Command) == 0 || app.Command[0] != exe {
		t.Errorf("GLSOTEL_TARGET_EXE %s, but container %s runs %q (set command explicitly)", exe, app.Name, app.Command)
	}
	if env["OTEL_SERVICE_NAME"] != app.Name {
		t.Errorf("OTEL_SERVICE_NAME %q, want %q", env["OTEL_SERVICE_NAME"], app.Name)
	}

	// The OTLP endpoint is a Service of the manifest, at a port that
	// reaches a container port, of the right protocol.
	checkEndpoint(t, m, env["OTEL_EXPORTER_OTLP_ENDPOINT"], env["OTEL_EXPORTER_OTLP_PROTOCOL"])

	// Metrics are served on the port named metrics.
	if addr, ok := env["GLSOTEL_METRICS_ADDR"]; ok {
		_, port, err := net.SplitHostPort(addr)
		p, ok := containerPort(&corev1.PodSpec{Containers: []corev1.Container{*sc}}, intstr.FromString("metrics"))
		if err != nil || !ok || strconv.Itoa(int(p.ContainerPort)) != port {
			t.Errorf("GLSOTEL_METRICS_ADDR %q: want HOST:PORT with PORT the sidecar's containerPort named metrics (%v)", addr, p)
		}
	}
}

func checkEndpoint(t *testing.T, m *manifest, endpoint, protocol string) {
	t.Helper()
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Port() == "" {
		t.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT %q: want http(s)://SERVICE:PORT", endpoint)
		return
	}
	// SERVICE, SERVICE.NAMESPACE, SERVICE.NAMESPACE.svc...
	name := strings.Split(u.Hostname(), ".")[0]
	s := m.service(name)
	if s == nil {
		t.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT %q: no Service %s in the manifest", endpoint, name)
		return
	}
	var port *corev1.ServicePort
	for i, p := range s.Spec.Ports {
		if strconv.Itoa(int(p.Port)) == u.Port() {
			port = &s.Spec.Ports[i]
		}
	}
	if port == nil {
		t.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT %q: Service %s has no port %s", endpoint, name, u.Port())
		return
	}
	want := map[string]string{"grpc": "grpc", "http/protobuf": "http"}[protocol]
	if want == "" || !strings.Contains(port.Name, want) {
		t.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL %q, but the endpoint is Service %s's port %q", protocol, name, port.Name)
	}
	if len(m.selected(s)) == 0 {
		t.Errorf("Service %s selects no Deployment", name)
	}
}

// TestServices: every Service selects exactly one Deployment's pods, and
// its target ports are container ports of those pods.
func TestServices(t *testing.T) {
	m := loadManifest(t)
	for _, s := range m.Services {
		ds := m.selected(s)
		if len(ds) != 1 {
			t.Errorf("service %s (selector %v): selects %d deployments, want 1", s.Name, s.Spec.Selector, len(ds))
			continue
		}
		pod := &ds[0].Spec.Template.Spec
		if len(s.Spec.Ports) == 0 {
			t.Errorf("service %s: no ports", s.Name)
		}
		for _, p := range s.Spec.Ports {
			target := p.TargetPort
			if target.Type == intstr.Int && target.IntVal == 0 {
				target = intstr.FromInt32(p.Port) // unset: the same as port
			}
			cp, ok := containerPort(pod, target)
			if !ok {
				t.Errorf("service %s port %s: targetPort %s is not a container port of deployment %s", s.Name, p.Name, target.String(), ds[0].Name)
				continue
			}
			if proto := func(p corev1.Protocol) corev1.Protocol {
				if p == "" {
					return corev1.ProtocolTCP
				}
				return p
			}; proto(p.Protocol) != proto(cp.Protocol) {
				t.Errorf("service %s port %s: protocol %s, container port %s", s.Name, p.Name, proto(p.Protocol), proto(cp.Protocol))
			}
		}
	}
}

// documentOf returns the manifest's document that defines kind/name.
func documentOf(t *testing.T, kind, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(manifestPath)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := splitDocuments(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range docs {
		var obj metav1.PartialObjectMetadata
		if err := yaml.Unmarshal(doc, &obj); err == nil && obj.Kind == kind && obj.Name == name {
			return doc
		}
	}
	t.Fatalf("%s: no %s %s", manifestPath, kind, name)
	return nil
}

// TestStrictDecodingRejects proves the decoding is strict: a copy of the
// back Deployment with one field broken must fail, the copy unbroken must
// not.
func TestStrictDecodingRejects(t *testing.T) {
	doc := string(documentOf(t, "Deployment", "back"))
	if _, err := decodeManifest([]byte(doc)); err != nil {
		t.Fatalf("the unbroken copy fails: %v", err)
	}
	for _, tc := range []struct {
		name, old, new, wantErr string
	}{
		{"misspelled field", "shareProcessNamespace:", "shareProcesNamespace:", `unknown field "spec.template.spec.shareProcesNamespace"`},
		{"field in the wrong case", "readOnlyRootFilesystem:", "ReadOnlyRootFilesystem:", "unknown field"},
		{"duplicate field", "      shareProcessNamespace: true", "      shareProcessNamespace: true\n      shareProcessNamespace: false", "already set"},
		{"unquoted number for a string", `value: "500"`, "value: 500", "cannot unmarshal number"},
		{"unknown kind", "kind: Deployment", "kind: Deploymnet", "not one this test decodes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(doc, tc.old) {
				t.Fatalf("the back Deployment has no %q to break", tc.old)
			}
			broken := strings.Replace(doc, tc.old, tc.new, 1)
			_, err := decodeManifest([]byte(broken))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("decoding with %q -> %q: error %v, want one containing %q", tc.old, tc.new, err, tc.wantErr)
			}
			t.Logf("rejected: %v", err)
		})
	}
}
