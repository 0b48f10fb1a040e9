// Package topic validates MQTT topic names and filters (3.1.1 and 5.0 rules),
// matches names against filters, parses shared subscriptions
// ($share/{ShareName}/{filter}) and keeps a level-based subscription trie.
//
// Validation (ValidateName, ValidateFilter, ParseShare) returns errors that
// wrap ErrInvalid and name the broken rule, e.g.
//
//	topic: invalid: "a/#/b": '#' must be the last character and occupy an entire level [MQTT-4.7.1-2]
//
// Match and Trie take filters literally: a "$share/..." string is not
// unwrapped. Callers split shared subscriptions with ParseShare and match
// the inner filter.
//
// The package is pure: no I/O, no goroutines, and it imports nothing of
// Strata's. Functions are safe for concurrent use; a Trie is not.
package topic
