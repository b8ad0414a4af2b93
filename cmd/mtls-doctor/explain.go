package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
	"github.com/mtls-doctor/mtls-doctor/probes"
)

func newExplainCommand(stdout io.Writer) *cobra.Command {
	var list bool
	cmd := &cobra.Command{
		Use:   "explain [ID]",
		Short: "Print the playbook for a finding (--list shows every check ID)",
		Args:  cobra.MaximumNArgs(1),
		// Tab completes check IDs, with their titles as descriptions (zsh, fish).
		ValidArgsFunction: func(_ *cobra.Command, args []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var ids []cobra.Completion
			for _, ch := range diagnostics.DefaultCatalog() {
				if strings.HasPrefix(ch.ID, prefix) {
					ids = append(ids, cobra.CompletionWithDesc(ch.ID, ch.Title))
				}
			}
			return ids, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			// The mesh command's checks have their own catalog; explain knows both.
			catalog := append(diagnostics.DefaultCatalog(), diagnostics.MeshCatalog()...)
			if list || len(args) == 0 {
				entries := make([]listEntry, 0, len(catalog))
				for _, ch := range catalog {
					entries = append(entries, listEntry{ch.ID, string(ch.Category), ch.Title})
				}
				return writeList(stdout, terminalWidth(stdout), entries)
			}
			ch, ok := catalog.Lookup(args[0])
			if !ok {
				return fmt.Errorf("no check %q; 'mtls-doctor explain --list' shows them all", args[0])
			}
			return diagnostics.WriteExplain(stdout, ch, exampleFacts())
		},
	}
	cmd.Flags().BoolVar(&list, "list", false, "list every check ID with its category and title")
	return cmd
}

// exampleFacts stands in for a host when a playbook is printed without probing one: the
// agent's default paths and a placeholder-free example name.
func exampleFacts() *diagnostics.Facts {
	file := func(v string) probes.Setting {
		return probes.Setting{Value: v, Source: probes.Source{Kind: probes.SourceFile, Name: "/etc/nginx-agent/nginx-agent.conf"}}
	}
	return &diagnostics.Facts{
		Thresholds: diagnostics.DefaultThresholds(),
		Agent: &probes.AgentConfig{
			Path: "/etc/nginx-agent/nginx-agent.conf", Format: probes.FormatV2,
			Host: file("nim.example.com"), Port: file("443"), ServerName: file("nim.example.com"),
			TLSEnabled: file("true"),
			Cert:       file("/etc/nginx-agent/agent.crt"), Key: file("/etc/nginx-agent/agent.key"),
			CA: file("/etc/nginx-agent/ca.pem"),
		},
		Errors: map[diagnostics.FactKind]string{},
	}
}

func newVersionCommand(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(*cobra.Command, []string) {
			fmt.Fprintf(stdout, "mtls-doctor %s\n", versionString())
		},
	}
}

// versionString is the release version with its commit and build date.
func versionString() string {
	return fmt.Sprintf("%s (commit %s, built %s)", version, commit, strings.TrimSpace(date))
}
