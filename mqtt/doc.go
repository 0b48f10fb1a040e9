// Package mqtt serves MQTT 3.1, 3.1.1 and 5.0 clients on top of the
// replicated log: listeners (TCP, TLS, WebSocket), connections, QoS flows,
// sessions, replay subscriptions and $SYS statistics.
//
// Nothing here changes state directly. A connection proposes an fsm entry
// for each packet that changes state (Cluster.Propose) and its writer
// answers once the proposal's future resolved: committed and applied on this
// node. What reaches clients comes from Broker.Apply, which the node's
// dispatcher calls for every applied entry with its fsm.Effects
// (deliveries, resumes, takeovers); it only queues, and proposes nothing.
// Time-driven entries (due wills, session expiry, lost nodes) are the
// housekeeping package's. Files by concern: connect.go, publish.go
// (inbound), deliver.go (outbound), catchup.go (reading the log after a
// queue overflow), acks.go, subscribe.go, replay.go,
// resume.go, pending.go (futures to answers), dispatch.go, listen.go,
// auth.go, sys.go, sweep.go. Offline messages,
// catch-up after a queue overflow and replays are read back from the log; a
// read that fails closes the connection (0x80 in 5.0) and acknowledges
// nothing (readfail.go). A message fanned out to many subscribers is
// encoded once per variant (version, QoS, retain, dup, expiry left) and
// the writers share the bytes, each patching in its packet identifier
// (encodeshare.go); a writer gathers its packets into one vectored write,
// copying small parts and referencing large payloads where they lie
// (connbuf.go).
// docs/mqtt.md maps every MQTT feature onto entries and views; docs/threads.md
// lists the goroutines and the lock order.
package mqtt
