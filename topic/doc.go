// Package topic validates MQTT topic names and filters (3.1.1 and 5.0 rules),
// matches names against filters, parses shared subscriptions
// ($share/{group}/{filter}) and keeps a subscription trie.
//
// It is pure: no I/O, no goroutines, and it imports nothing of Strata's.
// Functions are safe for concurrent use; a Trie is not.
package topic
