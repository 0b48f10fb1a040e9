package log

import "github.com/stratamq/strata/segment"

// Offset is a record's position in the log: dense from 0, never reused.
type Offset = segment.Offset

// Record is one log record; Key is the topic for publishes.
type Record = segment.Record
