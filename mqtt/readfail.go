package mqtt

import (
	"errors"
	"fmt"

	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/mqtt/packet"
	"github.com/stratamq/strata/segment"
)

// A read of the log that fails (a damaged frame, an I/O error) is never
// turned into an acknowledgement or a silent end: the delivery path returns
// a *logReadError, and the writer closes the connection with it (0x80 and a
// reason string for MQTT 5, the socket alone for 3.x). Nothing is acked, so
// the session still owes the message and a reconnect (to another node, or
// after this one repaired the segment) delivers it. An offset that retention
// deleted (below FirstOffset) is not a read error: the log no longer has it.

// logReadError is a failed read of the log: of the offset asked for
// (exact), or by an iterator at or after the first offset it had not yet
// returned (the failing frame may hold records its filter skips).
type logReadError struct {
	off   log.Offset
	exact bool
	err   error
}

func (e *logReadError) Error() string {
	return fmt.Sprintf("mqtt: %s: %v", e.where(), e.err)
}

func (e *logReadError) Unwrap() error { return e.err }

func (e *logReadError) where() string {
	if e.exact {
		return fmt.Sprintf("cannot read offset %d from this node's log", e.off)
	}
	return fmt.Sprintf("cannot read this node's log at or after offset %d", e.off)
}

// readFailure wraps err from an iterator with the first offset it had not
// returned; a nil err stays nil.
func readFailure(off log.Offset, err error) error {
	if err == nil {
		return nil
	}
	return &logReadError{off: off, err: err}
}

// reason is the DISCONNECT reason string: the offset and the kind of
// failure, without file names or other internals of the node.
func (e *logReadError) reason() string {
	what := "I/O error"
	if errors.Is(e.err, segment.ErrCorrupt) {
		what = "corrupt data"
	}
	return fmt.Sprintf("%s (%s); nothing was acknowledged", e.where(), what)
}

// endOnReadError closes the connection if err is a failed log read (logged
// once, at error level) and returns errClosed so the writer sends the
// DISCONNECT; any other error is returned as is.
func (c *conn) endOnReadError(err error) error {
	var re *logReadError
	if !errors.As(err, &re) {
		return err
	}
	c.logger.Error().Err(re.err).Uint64("offset", uint64(re.off)).
		Msg("cannot read the log for a delivery; closing the connection, nothing acknowledged")
	c.fail(packet.CodeUnspecifiedError, re.reason())
	return errClosed
}
