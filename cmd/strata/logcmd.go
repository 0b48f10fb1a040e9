package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/httpapi"
	strlog "github.com/stratamq/strata/log"
)

// runLog dispatches `strata log inspect|dump`: offline tools over a data
// directory's segment log. They open it read-only and refuse a directory a
// running node holds, or one that is not a Strata data directory.
func runLog(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || isHelp(args[0]) {
		fmt.Fprintln(stdout, "Usage: strata log inspect --data-dir DIR\n       strata log dump --data-dir DIR [--filter F] [--from X] [--to Y] [--payload base64|text|hex|auto]")
		fmt.Fprintln(stdout, "\ninspect lists segments and verifies every checksum; dump prints records as NDJSON.")
		fmt.Fprintln(stdout, "Both read the log of a stopped node, read-only: they refuse a directory a running node holds.")
		fmt.Fprintln(stdout, "X and Y are offsets (decimal) or RFC 3339 times; --to is exclusive.")
		return nil
	}
	switch args[0] {
	case "inspect":
		return runLogInspect(args[1:], stdout, stderr)
	case "dump":
		return runLogDump(args[1:], stdout, stderr)
	default:
		return fmt.Errorf("%w: unknown subcommand %q (inspect, dump)", errUsage, args[0])
	}
}

// openLogDir opens dataDir's log read-only (see readOnlyFS) under a shared
// lock that a running node's lock excludes. close releases both.
func openLogDir(dataDir string) (l *strlog.Log, ro *readOnlyFS, close func(), err error) {
	if dataDir == "" {
		return nil, nil, nil, fmt.Errorf("%w: --data-dir is required", errUsage)
	}
	if err := checkDataDir(dataDir); err != nil {
		return nil, nil, nil, err
	}
	unlock, err := lockShared(dataDir)
	if err != nil {
		return nil, nil, nil, err
	}
	o := strlog.DefaultOptions()
	ro = newReadOnlyFS()
	o.FS = ro
	o.Cluster = false // no rewrite of sealed segments
	o.SegmentAge = 0  // no roll
	l, err = strlog.Open(filepath.Join(dataDir, "log"), o)
	if err != nil {
		unlock()
		return nil, nil, nil, err
	}
	return l, ro, func() { l.Close(); unlock() }, nil
}

func runLogInspect(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("log inspect", stderr)
	dataDir := fs.String("data-dir", "./data", "node data directory")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	l, ro, closeLog, err := openLogDir(*dataDir)
	if err != nil {
		return err
	}
	defer closeLog()
	fmt.Fprintf(stdout, "first offset %d, next offset %d, last tag %d\n", l.FirstOffset(), l.NextOffset(), l.LastTag())
	for _, s := range l.Segments() {
		fmt.Fprintf(stdout, "%s  base %d  next %d  %d bytes  sealed=%t clustered=%t\n",
			s.Path, s.Base, s.NextOffset, s.Size, s.Sealed, s.Clustered)
	}
	for path, n := range ro.tornBytes() {
		fmt.Fprintf(stdout, "%s: %d bytes past the last whole frame, torn by a crash: the node cuts them when it starts\n", path, n)
	}
	n, err := verifyAll(l)
	if err != nil {
		return fmt.Errorf("verify after %d records: %w", n, err)
	}
	fmt.Fprintf(stdout, "verified %d records: every checksum good\n", n)
	return nil
}

func verifyAll(l *strlog.Log) (int, error) {
	it := l.Iter(l.FirstOffset())
	defer it.Close()
	n := 0
	for it.Next() {
		n++
	}
	return n, it.Err()
}

// parseBound reads an offset (decimal) or an RFC 3339 time; "" is unbounded.
func parseBound(s string) (strlog.Bound, error) {
	b, err := strlog.ParseBound(s)
	if err != nil {
		return b, fmt.Errorf("%w: %w", errUsage, err)
	}
	return b, nil
}

// dumpRecord is one line of strata log dump: the record as stored (value
// in base64) and, for a publish, its payload as --payload says.
type dumpRecord struct {
	Offset          uint64          `json:"offset"`
	Time            string          `json:"time"`
	Kind            uint8           `json:"kind"`
	Key             string          `json:"key"`
	Value           string          `json:"value"` // base64
	Payload         *string         `json:"payload,omitempty"`
	PayloadJSON     json.RawMessage `json:"payload_json,omitempty"`
	PayloadEncoding string          `json:"payload_encoding,omitempty"`
}

func runLogDump(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("log dump", stderr)
	dataDir := fs.String("data-dir", "./data", "node data directory")
	filter := fs.String("filter", "#", "MQTT topic filter")
	from := fs.String("from", "", "first offset or RFC 3339 time (inclusive)")
	to := fs.String("to", "", "last offset or RFC 3339 time (exclusive)")
	payload := fs.String("payload", "base64", "how a publish's payload is written: base64, text (lossy for binary), hex, or auto (JSON as payload_json, else text, else base64)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	mode, err := httpapi.ParsePayload(*payload)
	if err != nil {
		return fmt.Errorf("%w: --payload: %w", errUsage, err)
	}
	fb, err := parseBound(*from)
	if err != nil {
		return err
	}
	tb, err := parseBound(*to)
	if err != nil {
		return err
	}
	l, _, closeLog, err := openLogDir(*dataDir)
	if err != nil {
		return err
	}
	defer closeLog()
	it, err := l.Read(*filter, fb, tb)
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	defer it.Close()
	return writeDump(it, stdout, mode)
}

func writeDump(it *strlog.Iterator, stdout io.Writer, mode httpapi.Payload) error {
	w := bufio.NewWriter(stdout)
	enc := json.NewEncoder(w)
	for it.Next() {
		if err := enc.Encode(newDumpRecord(it.Record(), mode)); err != nil {
			return err
		}
	}
	if err := it.Err(); err != nil {
		return err
	}
	return w.Flush()
}

func newDumpRecord(r strlog.Record, mode httpapi.Payload) dumpRecord {
	d := dumpRecord{
		Offset: uint64(r.Offset),
		Time:   time.Unix(0, r.Time).UTC().Format(time.RFC3339Nano),
		Kind:   r.Kind,
		Key:    string(r.Key),
		Value:  base64.StdEncoding.EncodeToString(r.Value),
	}
	if e, err := fsm.DecodeRecord(r); err == nil && e.Kind == fsm.KindPublish {
		p, js, enc := httpapi.EncodePayload(e.Publish.Payload, mode)
		if js != nil {
			d.PayloadJSON = js
		} else {
			d.Payload = &p
		}
		if mode == httpapi.PayloadAuto {
			d.PayloadEncoding = enc
		}
	}
	return d
}
