// Package fsm materializes subscriptions, retained messages and sessions by
// folding log entries. Apply is deterministic and does no I/O; see
// testdata/ for scenarios.
//
// # Entries
//
// An Entry is one replicated event, stored as one log record (Record builds
// it, DecodeRecord reads it back): the entry's Kind is the record's Kind
// byte, its Time the record's Time (the commit time the leader stamps on
// every record it proposes; whatever time a proposer set is overwritten), a
// publish's topic the record's Key (empty for every other kind), and
// everything else the record's Value. Each fact is stored once: the value holds neither the
// kind, the time nor the topic. Kinds are part of the on-disk format and are
// never renumbered:
//
//	1 Publish            client id, packet id, message (topic, payload, QoS, retain, MQTT 5 properties);
//	                     Will marks the publication of a will: a will is a publish, not a kind of its own
//	2 Subscribe          the filters of one SUBSCRIBE with options (QoS, no-local, retain-as-published,
//	                     retain handling, subscription identifier, offset property)
//	3 Unsubscribe        the filters of one UNSUBSCRIBE
//	4 SessionConnect     clean start, session expiry, protocol version, node, will and will delay
//	5 SessionDisconnect  reason (normal | will | takeover | lost), Since (the connection's connect
//	                     offset), optional new session expiry
//	6 SessionExpire      proposed by the leader when a session's expiry elapsed (see Due)
//	7 Ack                batched acknowledgements: complete (PUBACK/PUBCOMP), received (PUBREC),
//	                     through (the replay gaps below an offset are done)
//	8 QoS2Release        an inbound PUBREL: frees a packet id
//	9 KeyRevoke          a signed key (auth.Keys) revoked by its id: every node refuses it from
//	                     this offset on and closes the connections it admitted
//	10 ConsumerCommit    a named HTTP consumer's cursor: name, filter, next offset to read
//	                     (one past the last processed), reset (may move backwards)
//	11 ConsumerDelete    a named HTTP consumer forgotten
//
// The Kind constants declare the record kind byte's whole space, which fsm
// shares with replication: KindMember (0xF0) is replication's record of a
// node's HTTP address, not an entry (Valid is false, DecodeRecord refuses
// it); kinds from 0xF0 up are reserved for replication, every other value is
// unassigned. Add a record kind here, never elsewhere (docs/format.md,
// Record kinds).
//
// Subscription identifiers are per delivery (Delivery.SubscriptionIDs), topic
// aliases per connection: neither is part of a message. So is the offset
// user property (Delivery.OffsetProperty): set when any matching subscription
// of the session asked for it (SubOptions.OffsetProperty), live, retained,
// owed and resent alike; the connection layer adds it to the PUBLISH.
//
// # Encoding
//
// Varints are minimal unsigned LEB128 (uvarint); "str" and "bytes" are a
// uvarint length and the bytes.
//
//	value      = version(1 byte, =2) client(str) body ext(bytes)
//	publish    = packet-id(uvarint) flags(1: bits 0-1 QoS, 2 retain, 3 will) payload(bytes) props
//	props      = present(1: bit 0 payload format, 1 expiry, 2 content type, 3 response topic,
//	             4 correlation data, 5 user properties), then each present field in bit order:
//	             format(1) expiry(uvarint) str str bytes count(uvarint) count×(name str, value str)
//	subscribe  = count(uvarint) count×(filter(str) options(1: bits 0-1 QoS, 2 no-local, 3 RAP,
//	             4-5 retain handling, 6 offset property) id(uvarint, 0 none))
//	unsubscribe= count(uvarint) count×filter(str)
//	connect    = flags(1: bit 0 clean start, 1 will, 2-3 will QoS, 4 will retain) expiry(uvarint)
//	             protocol-version(1) node(str) [will: topic(str) payload(bytes) props delay(uvarint)]
//	disconnect = reason(1) has-expiry(1) since(uvarint) [expiry(uvarint)]
//	expire     = (empty)
//	ack        = count(uvarint) count×(offset(uvarint) kind(1))
//	release    = packet-id(uvarint)
//	revoke     = key-id(str, 1..64 bytes)
//	consumer   = name(str, 1..128 bytes of [A-Za-z0-9._-]) filter(str) next(uvarint) flags(1: bit 0 reset)
//	consumer-delete = name(str)
//
// Version 1 values also held the time (varint, after the version byte) and
// a publish's topic (str, after its flags): duplicates of the record's Time
// and Key. They are refused with an ErrCorrupt error naming entry version 1;
// nothing converts them.
//
// The decoder is strict: every record it accepts is canonical (minimal
// varints, no unknown flag bits, present properties non-empty, a publish's
// key a valid topic name and every other kind's key empty, a valid entry per
// Validate), so Record(DecodeRecord(r)) gives back r's kind, time, key and
// value. Errors wrap ErrCorrupt.
//
// Forward compatibility: ext is a sequence of (uvarint tag, uvarint length,
// bytes) fields. A newer writer adds optional fields there without changing
// the version byte; this version checks its framing, ignores the fields and
// keeps them in Entry.Extensions so re-encoding is lossless. An incompatible
// change bumps the version byte, which older decoders reject.
//
// # Views
//
// State holds every view in copy-on-write B-trees (google/btree) of
// immutable items; changing an item replaces it:
//
//   - sessions: client id → Session: connected or not and on which node
//     (presence), clean start, expiry interval, connect and disconnect
//     times, the current connection's will, and the replay gaps (below).
//   - subscriptions: (client id, filter) → SubOptions, and the same keyed
//     by (filter, client id) for presence (View.Presence compares a filter
//     with each distinct subscribed filter once, then reads those that
//     overlap). Two indexes used only by Apply: a topic.Trie of non-shared
//     (filter, client) pairs, and a trie of (inner filter, group) for shared
//     subscriptions, whose members are kept per (group, inner filter) in
//     client id order with a round-robin position.
//   - inflight: (client id, offset) → QoS and state; the explicit part of
//     each session's cursor.
//   - awaiting release: (client id, packet id) of inbound QoS 2 publishes
//     awaiting PUBREL.
//   - retained: topic → offset, QoS and expiry of its latest retained publish.
//   - wills: client id → will waiting for its delay, with its due time.
//   - deadlines: (due, will|expire, client id): what only time can trigger.
//   - presence: connected-session count and subscriber count per filter.
//     Every entry that adds or removes subscriptions or brings a session
//     on or off line reports it in Effects.Presence (PresenceChange), from
//     which the presence package builds join, leave, online and offline
//     events.
//   - revoked keys: the ids of revoked signed keys (KeyRevoked).
//   - consumers: name → filter, next offset, time of the last commit
//     (Consumer). A plain commit behind the cursor is stale (the furthest
//     commit wins, whatever order at-least-once readers commit in); a
//     reset moves it anywhere; deleting an unknown consumer is stale.
//
// View returns a read-only copy in O(1) (B-tree Clone); later Apply calls
// copy the nodes they touch. The subscription tries are not copied: they
// are an index for Apply's routing, rebuilt from the subscriptions B-tree
// on Restore; Views answer per-client and per-filter questions from the
// B-trees, so copying a mutable trie on each View would cost O(subscriptions)
// for nothing.
//
// # Cursors
//
// Offline queues are cursors, not copies. What a session is owed is
//
//   - its Inflight items: offsets delivered live while connected and not yet
//     acknowledged (state sent, or received after PUBREC), and shared-group
//     messages assigned to it while offline (queued); and
//   - its Gaps: the offset ranges during which it was offline. Their owed
//     messages are not recorded; they are whatever the session's non-shared
//     subscriptions match at QoS ≥ 1, minus offsets held in Inflight
//     (including done markers), minus messages expired at the reconnect.
//     View.Owed computes this for each record the connection layer reads
//     back from the log.
//
// So an offline session costs O(subscriptions + in-flight window), whatever
// the traffic. On SessionConnect with a session present, Effects.Resume lists
// the Inflight items to resend and the gaps to replay (the open gap is closed
// at the connect's offset). Acks move the cursor: complete removes an item
// (inside a gap it leaves a done marker, so a later replay skips it),
// received marks PUBREC, through trims the gaps below an offset together with
// their done markers. A session that disconnects again before its replay is
// done keeps several gaps, one per undrained offline period.
//
// # Rules
//
// Apply uses only e.Time as its clock. Spec ids are MQTT 5.0.
//
//   - Retained: a retained publish replaces the topic's message [MQTT-3.3.1-5];
//     an empty payload removes it and is not stored [MQTT-3.3.1-6/7]; a
//     non-retained publish leaves it [MQTT-3.3.1-8]. On subscribe, retain
//     handling 0 sends, 1 sends only for a new subscription, 2 never
//     [MQTT-3.3.1-9..11], with the RETAIN flag set (section 3.3.1.3); none for
//     shared subscriptions (section 4.8.2); expired ones are skipped
//     [MQTT-3.3.2-5]. Wildcards at the first level do not match '$' topics
//     [MQTT-4.7.2-1].
//   - Delivery: once per session however many of its subscriptions match,
//     at the highest min(publish QoS, subscription QoS) [MQTT-3.8.4-8],
//     [MQTT-3.3.4-2], with every matching subscription identifier
//     [MQTT-3.3.4-3/4]; RETAIN kept when a matching subscription has
//     retain-as-published [MQTT-3.3.1-12/13]; never to the publisher through a
//     no-local subscription [MQTT-3.8.3-3] (ignored on shared ones, where the
//     connection layer rejects it [MQTT-3.8.3-4]). Retained messages sent for
//     several filters of one Subscribe entry are merged the same way. A
//     publish no subscription of any session matched (connected or not) is
//     marked Effects.Unmatched: the proposer answers 0x10.
//   - Shared groups: one member per message, the first connected member at or
//     after the group's round-robin position; with none connected, the member
//     at the position gets it queued. A member that is also matched directly
//     gets one merged delivery.
//   - QoS 2 inbound: the packet id is recorded until PUBREL; a publish with an
//     id still recorded is a duplicate, not delivered again [MQTT-4.3.3-10].
//   - Sessions: clean start discards the old session [MQTT-3.1.2-4]; otherwise
//     it resumes and its unacknowledged messages are resent [MQTT-4.4.0-1]. A
//     connect for a connected client closes the old connection
//     [MQTT-3.1.4-3]. A disconnect whose Since is not the current connection
//     is stale. Expiry 0 ends the session with the connection; NeverExpire
//     never expires; a DISCONNECT may replace the interval.
//   - Wills: discarded on a normal DISCONNECT [MQTT-3.14.4-3], otherwise due
//     after min(will delay, session expiry) [MQTT-3.1.2-8]; a reconnect before
//     then cancels it [MQTT-3.1.3-9]. On takeover the old will is due at once
//     if its delay is 0 or the session ends, else cancelled. The leader
//     proposes due wills (Due) as publishes with Will set; one that is no
//     longer pending applies as stale.
//   - Message expiry: a message expired at the Apply time of the relevant
//     entry is not queued for an offline member, not replayed (judged at the
//     reconnect) and not sent as retained [MQTT-3.3.2-5].
//
// # Snapshots
//
//	"STFS" version(1, =1) body crc32c(4, big endian, Castagnoli, over everything before)
//	body = next-offset sessions subscriptions groups(round-robin positions)
//	       inflight awaiting-release retained wills [revoked-keys [consumers]]
//
// each a uvarint count and its items in key order; revoked-keys (count,
// then key ids as str) is present only when non-empty or consumers follow
// (then its count may be 0); consumers (count, then name(str) filter(str)
// next(uvarint) updated(varint) by name) only when non-empty. So a state
// without revocations and consumers encodes as it did before they existed. Derived indexes (tries,
// group members, deadlines, counts) are rebuilt by Restore, which also checks
// order and cross-references. Digest is SHA-256 of the version byte and body.
//
// # Concurrency
//
// A State is not safe for concurrent use: one goroutine applies entries and
// takes Views. A View is immutable and safe for concurrent use. Entries are
// plain values.
package fsm
