package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// checkParquetFlags refuses what a Parquet export cannot do: it is binary
// (so never to a terminal or stdout: --out is required), it needs an end
// (no --follow), and consumer reads are NDJSON or CSV.
func checkParquetFlags(format, out string, cf *consumerFlags) error {
	if format != "parquet" {
		return nil
	}
	switch {
	case out == "":
		return fmt.Errorf("%w: --format parquet writes a binary file: give --out FILE", errUsage)
	case cf.follow:
		return fmt.Errorf("%w: --follow has no end and a Parquet file needs one (its footer)", errUsage)
	case cf.name != "":
		return fmt.Errorf("%w: --consumer reads NDJSON or CSV, not parquet", errUsage)
	}
	return nil
}

// parquetMagic ends every complete Parquet file (after its footer).
var parquetMagic = []byte("PAR1")

// saveParquet writes a Parquet export to path (mode 0600, as the data
// directory), with a progress line (bytes, rate) on stderr. A body that
// ends without the footer, which the server sends last, is an export the
// server cut short (a read failed on the node): the file would not open,
// so it is removed and the command fails.
func saveParquet(body io.Reader, path string, stderr io.Writer) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	tail, err := copyParquet(f, body, stderr)
	if err == nil && !bytes.HasSuffix(tail, parquetMagic) {
		err = errors.New("the server ended the export without a Parquet footer (a read failed on the node: its log has the details)")
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("%w; %s was removed", err, path)
	}
	return nil
}

// copyParquet copies body to w, redrawing a progress line at most every
// 200 ms, and returns the body's last bytes.
func copyParquet(w io.Writer, body io.Reader, stderr io.Writer) ([]byte, error) {
	start, last := time.Now(), time.Time{}
	var size int64
	var tail []byte
	buf := make([]byte, 256<<10)
	draw := func() {
		mib := float64(size) / (1 << 20)
		fmt.Fprintf(stderr, "\r%.1f MiB  %.1f MiB/s   ", mib, mib/max(time.Since(start).Seconds(), 1e-9))
	}
	defer fmt.Fprintln(stderr)
	for {
		n, rerr := body.Read(buf)
		if _, err := w.Write(buf[:n]); err != nil {
			return nil, err
		}
		size += int64(n)
		tail = append(tail, buf[:n]...)
		tail = tail[max(0, len(tail)-len(parquetMagic)):]
		if time.Since(last) > 200*time.Millisecond || rerr != nil {
			last = time.Now()
			draw()
		}
		if rerr == io.EOF {
			return tail, nil
		}
		if rerr != nil {
			return nil, fmt.Errorf("reading the export: %w", rerr)
		}
	}
}
