package diagnostics

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mtls-doctor/mtls-doctor/probes"
)

// mtlsModeAnnotation overrides the global mode for one workload's pods (pkg/apis/mesh
// types.go: MTLSModeAnnotation).
const mtlsModeAnnotation = "config.nsm.nginx.com/mtls-mode"

// podTemplateMeta is where each workload kind keeps its pods' metadata.
var podTemplateMeta = map[string][]string{
	"Pod":                   {"metadata"},
	"Deployment":            {"spec", "template", "metadata"},
	"StatefulSet":           {"spec", "template", "metadata"},
	"DaemonSet":             {"spec", "template", "metadata"},
	"ReplicaSet":            {"spec", "template", "metadata"},
	"ReplicationController": {"spec", "template", "metadata"},
	"Job":                   {"spec", "template", "metadata"},
	"CronJob":               {"spec", "jobTemplate", "spec", "template", "metadata"},
}

// meshWorkload is one workload of the manifests with its mTLS annotation.
type meshWorkload struct {
	kind, name, namespace string
	file                  string
	// prefix is the YAML path of the object in its document ("items[2]." in a List).
	prefix string
	// obj is the object as read, for the playbook's line edits.
	obj *probes.Node
	// mode is the pod template's annotation; nil when it has none.
	mode *probes.Entry
	// misplaced is the annotation on the object's own metadata, which the injector
	// never sees, when the pod template does not have it.
	misplaced *probes.Entry
}

func (w meshWorkload) ref() string {
	ns := w.namespace
	if ns == "" {
		ns = "default"
	}
	return fmt.Sprintf("%s/%s (namespace %s)", strings.ToLower(w.kind), w.name, ns)
}

func (w meshWorkload) annotationKey() string {
	return w.prefix + strings.Join(podTemplateMeta[w.kind], ".") + ".annotations." + mtlsModeAnnotation
}

// meshWorkloads lists the workloads of every manifest, in file order; List items count.
func meshWorkloads(f *Facts) []meshWorkload {
	var out []meshWorkload
	for _, in := range f.Mesh.Manifests {
		for _, doc := range in.Docs {
			objs := []*probes.Node{doc}
			prefixes := []string{""}
			if items := valueAt(doc, "items"); items != nil && items.Kind == probes.NodeSeq && strings.HasSuffix(scalarText(valueAt(doc, "kind")), "List") {
				objs, prefixes = items.Items, nil
				for i := range items.Items {
					prefixes = append(prefixes, fmt.Sprintf("items[%d].", i))
				}
			}
			for i, obj := range objs {
				kind := scalarText(valueAt(obj, "kind"))
				meta, ok := podTemplateMeta[kind]
				if !ok {
					continue
				}
				w := meshWorkload{kind: kind, file: in.Path, prefix: prefixes[i], obj: obj,
					name:      scalarText(valueAt(obj, "metadata", "name")),
					namespace: scalarText(valueAt(obj, "metadata", "namespace")),
				}
				w.mode = obj.Lookup(append(slices.Clone(meta), "annotations", mtlsModeAnnotation)...)
				if w.mode == nil && kind != "Pod" {
					w.misplaced = obj.Lookup("metadata", "annotations", mtlsModeAnnotation)
				}
				out = append(out, w)
			}
		}
	}
	return out
}

// globalMode is the mode the annotations are judged against, and how it is known.
func globalMode(f *Facts) (mode, how string) {
	s := meshSettingsOf(f)
	m := s.get("mtls.mode")
	switch {
	case !s.have || m.invalid:
		return "permissive", "the global mode is not given (--mesh-config or --values); judged against the default, permissive"
	case m.file == "":
		return "permissive", "global mode permissive (the chart's default)"
	}
	return m.value, fmt.Sprintf("global mode %s (%s)", m.value, m.where())
}

// annotationVerdict judges one workload's annotation as the injector does
// (pkg/pod/pod.go GetMTLSModeAnnotation, pkg/inject/config.go ValidateMTLSAnnotation).
// invalid is a value the injector ignores or a pod it refuses; plaintext is a workload
// the annotation takes out of mTLS.
func annotationVerdict(w meshWorkload, global string) (invalid, plaintext string) {
	if w.misplaced != nil {
		return "the annotation is on the " + strings.ToLower(w.kind) + "'s own metadata; the injector reads only the pod template's, " +
			"so the workload runs in the global mode", ""
	}
	if w.mode == nil {
		return "", ""
	}
	v, ok := w.mode.Value.Text()
	if !ok || w.mode.Value.TypeName() != "string" {
		return fmt.Sprintf("the value is %s, not a string: kubectl refuses the manifest%s", w.mode.Value.TypeName(), yaml11Hint(w.mode.Value)), ""
	}
	lower := strings.ToLower(v)
	switch {
	case !slices.Contains([]string{"off", "permissive", "strict"}, lower):
		return fmt.Sprintf("%q is not off, permissive or strict: the injector logs \"Invalid annotation value '%s', "+
			"defaulting to configured MTLS mode\" and uses the global mode", v, v), ""
	case global == "strict" && lower != "strict":
		return fmt.Sprintf("%q under global strict: the injector refuses to inject the pods (\"global mtls mode is 'strict'; "+
			"mtls annotation for '%s' cannot conflict\")", v, w.name), ""
	case global == "permissive" && lower == "off":
		return "", "mTLS is off for this workload: its pods send and accept plaintext"
	}
	return "", ""
}

func meshAnnotationChecks() []Check {
	need := []FactKind{FactMesh}
	return []Check{
		{
			ID: "mesh-annotation-invalid", Category: CategoryMesh,
			Title: "workloads' mTLS annotations are ones the injector applies",
			Why: "The sidecar injector reads " + mtlsModeAnnotation + " from the pod template: an unknown value is " +
				"logged and replaced by the global mode, and under global strict any other value makes the injector " +
				"refuse the pod (pkg/inject/config.go), where the document says it is ignored.",
			Needs: need, Subject: meshSettingsSubject, Evaluate: evalMeshAnnotationInvalid, Fix: fixMeshAnnotations,
		},
		{
			ID: "mesh-annotation-disables-mtls", Category: CategoryMesh,
			Title: "no workload turns mTLS off",
			Why: "Under global permissive the annotation " + mtlsModeAnnotation + ": \"off\" takes a workload out of " +
				"mTLS: its pods talk plaintext to the rest of the mesh.",
			Needs: need, Subject: meshSettingsSubject, Evaluate: evalMeshAnnotationOff, Fix: fixMeshAnnotations,
		},
	}
}

func noManifests(f *Facts, ws []meshWorkload) (Result, bool) {
	switch {
	case len(f.Mesh.Manifests) == 0:
		return Skip("skipped: no manifests given (-f)"), true
	case len(ws) == 0:
		return Skip("skipped: the manifests hold no workload with a pod template"), true
	}
	return Result{}, false
}

func evalMeshAnnotationInvalid(f *Facts) Result {
	ws := meshWorkloads(f)
	if r, skip := noManifests(f, ws); skip {
		return r
	}
	global, how := globalMode(f)
	var ev []Evidence
	for _, w := range ws {
		if bad, _ := annotationVerdict(w, global); bad != "" {
			ev = append(ev, annotationNote(w, bad))
		}
	}
	if len(ev) > 0 {
		return Warn("%s: %s", ws[slices.IndexFunc(ws, func(w meshWorkload) bool { bad, _ := annotationVerdict(w, global); return bad != "" })].ref(),
			ev[0].Text).Because(CauseInvalidAnnotation).With(append(ev, Note("", "%s", how))...)
	}
	return OK("%s: every mTLS annotation is applied (%s)", Plural(len(ws), "workload"), how)
}

func evalMeshAnnotationOff(f *Facts) Result {
	ws := meshWorkloads(f)
	if r, skip := noManifests(f, ws); skip {
		return r
	}
	global, how := globalMode(f)
	var ev []Evidence
	var names []string
	for _, w := range ws {
		if _, off := annotationVerdict(w, global); off != "" {
			ev = append(ev, annotationNote(w, off))
			names = append(names, w.ref())
		}
	}
	if len(ev) > 0 {
		return Warn("%s: mTLS is off by annotation", joinNames(names, 3)).Because(CauseMTLSOff).With(append(ev, Note("", "%s", how))...)
	}
	return OK("no workload turns mTLS off (%s)", how)
}

func annotationNote(w meshWorkload, text string) Evidence {
	e := w.mode
	key := w.annotationKey()
	if w.misplaced != nil {
		e, key = w.misplaced, w.prefix+"metadata.annotations."+mtlsModeAnnotation
	}
	return Note(meshWhere(w.file, e.Line, e.Column), "%s %s: %s", w.ref(), key, text)
}
