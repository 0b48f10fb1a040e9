package mqtt_test

import (
	"crypto/tls"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/rs/zerolog"

	"github.com/stratamq/strata/internal/testpki"
	"github.com/stratamq/strata/mqtt"
)

// TestTLSAndWebSocketListeners: the same broker serves TCP, TLS and
// WebSocket (path /mqtt, subprotocol mqtt) clients, which exchange messages.
func TestTLSAndWebSocketListeners(t *testing.T) {
	tb := startBroker(t, nil)
	cert, pool := testpki.SelfSigned(t)
	tln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	go tb.broker.Serve(tln, "tls")
	wln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := tb.broker.ListenerFor(wln.Addr(), "ws")
	hs := &http.Server{Handler: mqtt.WebSocketHandler(func(c net.Conn) { tb.broker.ServeConn(c, l) }, zerolog.Nop())}
	go hs.Serve(wln)
	t.Cleanup(func() { hs.Close() })

	urls := map[string]string{
		"tcp": tb.url(),
		"tls": "ssl://" + tln.Addr().String(),
		"ws":  "ws://" + wln.Addr().String() + "/mqtt",
	}
	inboxes := map[string]*inbox{}
	for name, url := range urls {
		in := newInbox()
		inboxes[name] = in
		c := pahoClient(t, url, "sub-"+name, true, func(o *paho.ClientOptions) {
			o.SetTLSConfig(&tls.Config{RootCAs: pool})
		})
		wait(t, c.Subscribe("l/#", 2, in.handler))
	}
	var want []string
	for _, name := range []string{"tcp", "tls", "ws"} {
		c := pahoClient(t, urls[name], "pub-"+name, true, func(o *paho.ClientOptions) {
			o.SetTLSConfig(&tls.Config{RootCAs: pool})
		})
		for _, p := range seq(name+"-", 20) {
			wait(t, c.Publish("l/"+name, 2, false, p))
			want = append(want, p)
		}
	}
	for name, in := range inboxes {
		in.waitN(t, len(want), 10*time.Second)
		if got := in.payloads(); !slices.Equal(got, want) {
			t.Fatalf("%s subscriber got %v", name, got)
		}
	}
	// A WebSocket request without the mqtt subprotocol is refused.
	req, _ := http.NewRequest("GET", "http://"+wln.Addr().String()+"/mqtt", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("no subprotocol: status %d, want 400", resp.StatusCode)
	}
}
