package main

import (
	"fmt"
	"io"

	"github.com/stratamq/strata/replication"
)

// runRestore: strata restore --from SNAPSHOT_DIR --data-dir DIR lays out a
// new data directory from a backup taken with `strata cluster snapshot`.
func runRestore(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("restore", stderr)
	from := fs.String("from", "", "a snapshot directory copied from a node (strata cluster snapshot prints its path)")
	dataDir := fs.String("data-dir", "", "the new node's data directory: empty or absent")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *from == "" || *dataDir == "" {
		return fmt.Errorf("%w: restore needs --from and --data-dir", errUsage)
	}
	if err := replication.RestoreBackup(*from, *dataDir); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored %s into %s; start it with: strata serve --data-dir %s --node-id <the backed-up node's id> --raft-addr <its raft address>\n",
		*from, *dataDir, *dataDir)
	return nil
}
