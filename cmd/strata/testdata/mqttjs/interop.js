#!/usr/bin/env node
// Interop check of a Strata broker with mqtt.js, run by cmd/strata/interop_mqttjs_test.go.
//
//   node interop.js URL VERSION [COUNT]
//
// URL is mqtt://127.0.0.1:PORT or ws://127.0.0.1:PORT/mqtt; VERSION is 4 (MQTT 3.1.1) or
// 5 (MQTT 5.0). One client connects, subscribes at QoS 2 to a topic of its own, publishes
// COUNT messages (default 30) cycling QoS 0, 1, 2 (MQTT 5: each with the user property
// "k" = "v<i>"), and waits for them to come back. It prints one JSON line describing what
// it saw and exits 0 when every message arrived once, in order, at the QoS it was sent
// with, and (MQTT 5) carrying the sender's user property and an increasing "offset" user
// property, which its subscription asks for; otherwise 1. mqtt.js comes from node_modules here (npm ci) or NODE_PATH
// (Debian's node-mqtt: /usr/share/nodejs).
'use strict'

const mqtt = require('mqtt')

const [url, versionArg, countArg] = process.argv.slice(2)
const version = Number(versionArg)
const count = Number(countArg || 30)
if (!url || (version !== 4 && version !== 5) || !(count > 0)) {
  console.error('usage: node interop.js URL 4|5 [COUNT]')
  process.exit(2)
}

const result = {
  ok: false,
  url,
  version,
  mqttjs: require('mqtt/package.json').version,
  connected: false,
  subscribed: false,
  granted_qos: null,
  sent: 0,
  puback: 0, // QoS 1/2 publishes acknowledged
  received: [], // in 'message' order: {topic, payload, qos, retain, offset, k}
  wire_order: [], // payloads in the order the PUBLISH packets arrived
  errors: []
}
let done = false
function finish (ok) {
  if (done) return
  done = true
  result.ok = ok && result.errors.length === 0
  process.stdout.write(JSON.stringify(result) + '\n', () => {
    client.end(true, () => process.exit(result.ok ? 0 : 1))
    setTimeout(() => process.exit(result.ok ? 0 : 1), 1000).unref()
  })
}

const timer = setTimeout(() => {
  result.errors.push(`timed out: ${result.received.length} of ${count} messages received`)
  finish(false)
}, 20000)

const clientId = `mqttjs-${version}-${process.pid}-${Date.now()}`
const topic = `interop/mqttjs/${clientId}`
const client = mqtt.connect(url, {
  protocolVersion: version,
  clientId,
  clean: true,
  reconnectPeriod: 0, // a dropped connection is a failure, not something to paper over
  connectTimeout: 10000,
  keepalive: 30
})

client.on('error', (err) => {
  result.errors.push(`client error: ${err.message}`)
  finish(false)
})
client.on('close', () => {
  if (!done) {
    result.errors.push('connection closed before the test ended')
    finish(false)
  }
})

// The order PUBLISH packets arrive on the wire. mqtt.js emits a QoS 2 message only
// after PUBREL, so 'message' order interleaves QoS levels differently.
client.on('packetreceive', (packet) => {
  if (packet.cmd === 'publish') result.wire_order.push(packet.payload.toString())
})

client.on('message', (t, payload, packet) => {
  const m = { topic: t, payload: payload.toString(), qos: packet.qos, retain: packet.retain }
  if (version === 5) {
    const up = (packet.properties && packet.properties.userProperties) || {}
    m.offset = up.offset === undefined ? null : up.offset
    m.k = up.k === undefined ? null : up.k
  } else if (packet.properties) {
    m.properties = packet.properties
  }
  result.received.push(m)
  maybeCheck()
})

client.on('connect', (connack) => {
  result.connected = true
  // MQTT 5: ask for the "offset" user property (Strata adds it only where asked, so that user
  // properties otherwise arrive unaltered [MQTT-3.3.2-17/18]).
  const opts = version === 5 ? { qos: 2, properties: { userProperties: { offset: 'true' } } } : { qos: 2 }
  client.subscribe(topic, opts, (err, granted) => {
    if (err) {
      result.errors.push(`subscribe: ${err.message}`)
      return finish(false)
    }
    result.subscribed = true
    result.granted_qos = granted && granted[0] ? granted[0].qos : null
    if (result.granted_qos !== 2) {
      result.errors.push(`granted QoS ${result.granted_qos}, want 2`)
      return finish(false)
    }
    for (let i = 0; i < count; i++) {
      const opts = { qos: i % 3 }
      if (version === 5) opts.properties = { userProperties: { k: `v${i}` } }
      result.sent++
      client.publish(topic, `m-${i}`, opts, (err) => {
        if (err) {
          result.errors.push(`publish m-${i}: ${err.message}`)
          finish(false)
        } else if (opts.qos > 0) {
          result.puback++ // PUBACK (QoS 1) or PUBCOMP (QoS 2)
          maybeCheck()
        }
      })
    }
  })
})

const wantAcks = Array.from({ length: count }, (_, i) => i % 3).filter((q) => q > 0).length
let checking = false
function maybeCheck () {
  if (checking || result.received.length < count || result.puback < wantAcks) return
  checking = true
  check()
}

function check () {
  // Let a duplicate that follows the last expected message show up.
  setTimeout(() => {
    clearTimeout(timer)
    const got = result.received
    const want = Array.from({ length: count }, (_, i) => `m-${i}`)
    if (got.length !== count) result.errors.push(`received ${got.length} messages, want ${count}`)
    // The broker sends in log order, which is this client's publish order (docs/mqtt.md).
    if (result.wire_order.join(',') !== want.join(',')) {
      result.errors.push(`PUBLISH packets arrived in order ${result.wire_order.join(',')}, want ${want.join(',')}`)
    }
    const seen = new Map()
    const lastOfQoS = [-1, -1, -1]
    let prevOffset = -1
    const offsets = new Array(count).fill(null)
    for (const m of got) {
      const i = Number(m.payload.replace(/^m-/, ''))
      if (m.topic !== topic) result.errors.push(`${m.payload}: topic ${m.topic}, want ${topic}`)
      if (!(i >= 0 && i < count) || `m-${i}` !== m.payload) {
        result.errors.push(`unexpected payload ${JSON.stringify(m.payload)}`)
        continue
      }
      if (seen.has(i)) result.errors.push(`${m.payload} delivered twice`)
      seen.set(i, true)
      if (m.qos !== i % 3) result.errors.push(`${m.payload}: QoS ${m.qos}, want ${i % 3}`)
      // Per topic and QoS, messages arrive in the order published [MQTT-4.6.0-6].
      if (m.qos >= 0 && m.qos <= 2) {
        if (i < lastOfQoS[m.qos]) result.errors.push(`${m.payload} (QoS ${m.qos}) delivered after m-${lastOfQoS[m.qos]}`)
        lastOfQoS[m.qos] = i
      }
      if (m.retain) result.errors.push(`${m.payload}: retain flag set on a live message`)
      if (version === 5) {
        if (m.k !== `v${i}`) result.errors.push(`${m.payload}: user property k=${JSON.stringify(m.k)}, want v${i}`)
        if (typeof m.offset !== 'string' || !/^[0-9]+$/.test(m.offset)) {
          result.errors.push(`${m.payload}: user property offset=${JSON.stringify(m.offset)}, want a decimal number`)
        } else {
          offsets[i] = Number(m.offset)
        }
      } else if (m.properties !== undefined) {
        result.errors.push(`${m.payload}: MQTT 3.1.1 delivery has properties`)
      }
    }
    if (version === 5) {
      // Offsets follow publish order: the log's order is this client's order.
      for (let i = 0; i < count; i++) {
        if (offsets[i] === null) continue
        if (offsets[i] <= prevOffset) result.errors.push(`m-${i}: offset ${offsets[i]} not above the previous message's ${prevOffset}`)
        prevOffset = offsets[i]
      }
    }
    finish(true)
  }, 200)
}
