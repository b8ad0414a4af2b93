package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
	"github.com/mtls-doctor/mtls-doctor/probes/mesh"
	"github.com/mtls-doctor/mtls-doctor/tui"
)

// meshFlags are the mesh command's flags.
type meshFlags struct {
	inputs      mesh.Options
	check       bool
	output      string
	warnDays    int
	critDays    int
	warnPercent int
	verbose     bool
}

func (m *meshFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&m.inputs.UpstreamCAConf, "upstream-ca-conf", "", "the file given to nginx-meshctl deploy --mtls-upstream-ca-conf")
	fl.StringVar(&m.inputs.MeshConfig, "mesh-config", "", "nginx-meshctl config output or a MeshConfig resource (YAML or JSON); - reads stdin")
	fl.StringVar(&m.inputs.Values, "values", "", "Helm values the mesh is deployed with (mtls.mode, mtls.spireServerKeyManager, ...)")
	fl.StringArrayVarP(&m.inputs.Manifests, "filename", "f", nil, "Kubernetes manifests whose pod templates carry mTLS annotations (repeatable)")
	fl.BoolVar(&m.check, "check", false, "run the checks once and print the result (no TUI)")
	fl.StringVarP(&m.output, "output", "o", "text", "output format of --check: text, json, markdown, nagios or prometheus")
	th := diagnostics.DefaultThresholds()
	fl.IntVar(&m.warnDays, "warn-days", th.WarnDays, "warn when a CA certificate has fewer days left")
	fl.IntVar(&m.critDays, "crit-days", th.CritDays, "with --warn-days, the ratio that grades short-lived CAs by --warn-percent")
	fl.IntVar(&m.warnPercent, "warn-percent", th.WarnPercent, "warn when less than this percentage of a CA's lifetime is left")
	fl.BoolVarP(&m.verbose, "verbose", "v", false, "also list skipped checks and full fix steps for warnings")
}

// checkFlags gives the shared validation and report writer the mesh command's values.
func (m *meshFlags) checkFlags() checkFlags {
	c := checkFlags{check: m.check, output: m.output, warnDays: m.warnDays, critDays: m.critDays,
		warnPercent: m.warnPercent, verbose: m.verbose}
	// The mesh command has no network step and reads no logs; validate wants both set.
	c.timeout, c.logs.since = 1, 1
	return c
}

func newMeshCommand(ctx context.Context, env environ, stdout, stderr io.Writer) *cobra.Command {
	var m meshFlags
	cmd := &cobra.Command{
		Use:   "mesh [--upstream-ca-conf FILE] [--mesh-config FILE|-] [--values FILE] [-f MANIFEST]...",
		Short: "Check NGINX Service Mesh's mTLS: SPIRE's upstream CA, the mesh settings, workload annotations",
		Long: `mesh judges an NGINX Service Mesh offline, from the files nginx-meshctl and kubectl use:
the upstream authority configuration (--upstream-ca-conf) and the CA files it names, as
nginx-meshctl's schema and SPIRE read them, with the chain SPIRE builds (SVID → SPIRE CA
→ upstream CA → root) verified; the mTLS mode and settings (--mesh-config, --values); and
the mTLS annotations of the workloads in the manifests (-f). Relative paths inside the
upstream authority configuration resolve against the current directory, as
nginx-meshctl's do. At least one input is required.

On a terminal it opens the assistant; otherwise, or with --check, it prints the result
once. Exit codes: 0 ok, 1 warnings, 2 failures, 3 could not run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			flags := m.checkFlags()
			if err := flags.validate(); err != nil {
				return err
			}
			if !m.inputs.HasInput() {
				return errors.New("mesh needs at least one input: --upstream-ca-conf, --mesh-config, --values or -f")
			}
			if m.inputs.MeshConfig == "-" {
				m.inputs.Stdin = cmd.InOrStdin()
			}
			engine := meshEngine(m.inputs, flags.thresholds())
			if wantTUI(flags, env, stdout, stderr) {
				text := textOptions(stdout, env, m.verbose)
				md := reportIdentity(flags, env, "")
				return assistantExit(tui.Run(ctx, tui.Options{Engine: engine, Title: "NGINX Service Mesh",
					Output: unwrapWriter(stdout), NoColor: !text.Color, ASCII: text.ASCII,
					Version: md.Version, Args: md.Args, Hostname: md.Hostname}))
			}
			return runCheck(ctx, engine, flags, env, stdout)
		},
	}
	m.register(cmd)
	return cmd
}

// meshEngine runs the mesh catalog over the files named in opts.
func meshEngine(opts mesh.Options, th diagnostics.Thresholds) *diagnostics.Engine {
	return &diagnostics.Engine{
		Catalog:    diagnostics.MeshCatalog(),
		Thresholds: th,
		Gatherer: diagnostics.GathererFunc(func(_ context.Context, kind diagnostics.FactKind, f *diagnostics.Facts) error {
			if kind != diagnostics.FactMesh {
				return fmt.Errorf("the mesh command gathers no %s facts", kind)
			}
			facts, err := mesh.Load(opts)
			if err != nil {
				return err
			}
			f.Mesh = facts
			return nil
		}),
	}
}
