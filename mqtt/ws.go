package mqtt

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/coder/websocket"
	"github.com/rs/zerolog"
)

// wsSubprotocols are the WebSocket subprotocols MQTT clients offer, preferred
// first: "mqtt" [MQTT-6.0.0-3] [MQTT-6.0.0-4], and "mqttv3.1", sent alone by
// old MQTT 3.1 clients.
var wsSubprotocols = []string{"mqtt", "mqttv3.1"}

// WebSocketHandler serves MQTT over WebSocket (MQTT 5.0 section 6) on path
// /mqtt; other paths get 404 and a request that offers neither subprotocol
// of wsSubprotocols gets 400. Messages are binary (a text message ends the
// connection) [MQTT-6.0.0-1] and a
// packet may span several messages or share one with others
// [MQTT-6.0.0-2]: the net.Conn passed to serve is a byte stream. serve runs
// on the handler's goroutine and owns the connection (it closes it); the
// handler returns when serve does. The connection's RemoteAddr is the HTTP
// request's.
//
// Any Origin is accepted. Origin checks protect cookie-authenticated sites
// from cross-site requests made by browsers; an MQTT connection carries no
// ambient credentials (no cookies are read), and every client, browser or
// not, authenticates itself in CONNECT.
func WebSocketHandler(serve func(c net.Conn), logger zerolog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/mqtt" {
			http.NotFound(w, r)
			return
		}
		if !offersSubprotocol(r, wsSubprotocols) {
			http.Error(w, `MQTT over WebSocket needs the subprotocol "mqtt" (Sec-WebSocket-Protocol: mqtt)`, http.StatusBadRequest)
			return
		}
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
			Subprotocols:       wsSubprotocols,
			InsecureSkipVerify: true, // any Origin: see above
		})
		if err != nil { // Accept has written the HTTP error
			logger.Debug().Err(err).Str("remote", r.RemoteAddr).Msg("websocket upgrade failed")
			return
		}
		// No WebSocket message limit: the broker bounds packets itself
		// (Options.MaxPacketSize). NetConn disables it too; be explicit.
		ws.SetReadLimit(-1)
		nc := websocket.NetConn(context.Background(), ws, websocket.MessageBinary)
		serve(&wsConn{Conn: nc, remote: httpRemoteAddr(r.RemoteAddr)})
	})
}

// offersSubprotocol reports whether r's Sec-WebSocket-Protocol headers name
// one of protos, compared as websocket.Accept does (ignoring case).
func offersSubprotocol(r *http.Request, protos []string) bool {
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(v, ",") {
			p = strings.TrimSpace(p)
			if slices.ContainsFunc(protos, func(q string) bool { return strings.EqualFold(p, q) }) {
				return true
			}
		}
	}
	return false
}

// wsConn reports the HTTP client's address as the connection's.
type wsConn struct {
	net.Conn
	remote net.Addr
}

func (c *wsConn) RemoteAddr() net.Addr { return c.remote }

// httpRemoteAddr turns an http.Request's RemoteAddr into a net.Addr: a
// *net.TCPAddr when it is ip:port, as it is for TCP listeners.
func httpRemoteAddr(s string) net.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return net.TCPAddrFromAddrPort(ap)
	}
	return wsAddr(s)
}

// wsAddr is a remote address that is not ip:port (a Unix socket's, say).
type wsAddr string

func (a wsAddr) Network() string { return "websocket" }
func (a wsAddr) String() string  { return string(a) }
