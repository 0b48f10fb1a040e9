package mqtt_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/rs/zerolog"

	"github.com/stratamq/strata/mqtt"
)

// wsServer serves mqtt.WebSocketHandler on 127.0.0.1 with serve, and returns
// its ws:// base URL.
func wsServer(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &httptest.Server{Listener: ln, Config: &http.Server{Handler: mqtt.WebSocketHandler(serve, zerolog.Nop())}}
	s.Start()
	t.Cleanup(s.Close)
	return "ws://" + ln.Addr().String()
}

// echo copies what a connection reads back to it, then reports its remote
// address on addrs and closes it.
func echo(addrs chan<- net.Addr) func(net.Conn) {
	return func(c net.Conn) {
		defer c.Close()
		io.Copy(c, c)
		addrs <- c.RemoteAddr()
	}
}

func dialWS(t *testing.T, url string, protos ...string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: protos})
}

// TestWebSocketEcho: bytes written as several binary messages (a packet may
// span messages, and a message may hold several packets) come back as one
// stream; a message larger than coder/websocket's default 32 KiB limit
// passes; the serving conn reports the client's 127.0.0.1 address.
func TestWebSocketEcho(t *testing.T) {
	addrs := make(chan net.Addr, 1)
	base := wsServer(t, echo(addrs))
	c, _, err := dialWS(t, base+"/mqtt", "mqtt")
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if c.Subprotocol() != "mqtt" {
		t.Fatalf("subprotocol %q, want mqtt", c.Subprotocol())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	parts := [][]byte{{0x10, 0x0c}, []byte("\x00\x04MQ"), []byte("TT\x05\x02\x00\x3c\x00\x00\xe0\x00"), big}
	var want []byte
	for _, p := range parts {
		if err := c.Write(ctx, websocket.MessageBinary, p); err != nil {
			t.Fatal(err)
		}
		want = append(want, p...)
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(websocket.NetConn(ctx, c, websocket.MessageBinary), got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("echo differs: got %d bytes, want %d", len(got), len(want))
	}
	c.Close(websocket.StatusNormalClosure, "")
	select {
	case a := <-addrs:
		tcp, ok := a.(*net.TCPAddr)
		if !ok || !tcp.IP.Equal(net.IPv4(127, 0, 0, 1)) || tcp.Port == 0 {
			t.Fatalf("RemoteAddr %v (%T), want 127.0.0.1:port", a, a)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not return after the client closed")
	}
}

// TestWebSocketOldSubprotocol: an MQTT 3.1 client offering only "mqttv3.1"
// is accepted with it; "mqtt" is preferred when both are offered.
func TestWebSocketOldSubprotocol(t *testing.T) {
	base := wsServer(t, echo(make(chan net.Addr, 2)))
	for _, tc := range []struct {
		offer []string
		want  string
	}{
		{[]string{"mqttv3.1"}, "mqttv3.1"},
		{[]string{"mqttv3.1", "mqtt"}, "mqtt"},
	} {
		c, _, err := dialWS(t, base+"/mqtt", tc.offer...)
		if err != nil {
			t.Fatalf("offer %v: %v", tc.offer, err)
		}
		if c.Subprotocol() != tc.want {
			t.Errorf("offer %v: subprotocol %q, want %q", tc.offer, c.Subprotocol(), tc.want)
		}
		c.Close(websocket.StatusNormalClosure, "")
	}
}

// TestWebSocketRefused: other paths get 404 and a request without the mqtt
// subprotocol gets 400 naming it; serve is never called.
func TestWebSocketRefused(t *testing.T) {
	base := wsServer(t, func(c net.Conn) {
		c.Close()
		t.Error("serve called for a refused request")
	})
	for _, tc := range []struct {
		path   string
		offer  []string
		status int
		body   string
	}{
		{"/", []string{"mqtt"}, http.StatusNotFound, ""},
		{"/mqtt/x", []string{"mqtt"}, http.StatusNotFound, ""},
		{"/mqtt", nil, http.StatusBadRequest, `subprotocol "mqtt"`},
		{"/mqtt", []string{"chat", "mqttv5"}, http.StatusBadRequest, `subprotocol "mqtt"`},
	} {
		_, resp, err := dialWS(t, base+tc.path, tc.offer...)
		if err == nil || resp == nil {
			t.Fatalf("%s %v: dial succeeded or no response: %v", tc.path, tc.offer, err)
		}
		if resp.StatusCode != tc.status {
			t.Errorf("%s %v: status %d, want %d", tc.path, tc.offer, resp.StatusCode, tc.status)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), tc.body) {
			t.Errorf("%s %v: body %q does not mention %s", tc.path, tc.offer, body, tc.body)
		}
	}
}

// TestWebSocketTextMessage: a text message ends the connection with close
// status 1003 (unsupported data) [MQTT-6.0.0-1]: serve's read fails.
func TestWebSocketTextMessage(t *testing.T) {
	readErr := make(chan error, 1)
	base := wsServer(t, func(c net.Conn) {
		defer c.Close()
		_, err := c.Read(make([]byte, 16))
		readErr <- err
	})
	c, _, err := dialWS(t, base+"/mqtt", "mqtt")
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Read(ctx); websocket.CloseStatus(err) != websocket.StatusUnsupportedData {
		t.Fatalf("client read after a text message: %v, want close status 1003", err)
	}
	if err := <-readErr; err == nil {
		t.Fatal("serve read a text message without error")
	}
}
