package httpapi

import (
	"fmt"
	"net/http"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/presence"
)

// Disconnecting a client and deleting a session go through the log, with
// the entry kinds MQTT connections already write, so every node agrees and
// no new record kind (which an older node of a rolling upgrade could not
// fold) is needed:
//
//   - a disconnect is the KindSessionDisconnect the node holding the
//     connection would have proposed itself; that node closes the
//     connection when it applies it (MQTT 5 clients get DISCONNECT 0x98,
//     administrative action), whichever node the API call reached, and
//     wherever the connection moves meanwhile (Since names the connection:
//     a newer one is not touched);
//   - deleting an online session is that disconnect with a session expiry
//     of 0 (the session ends with the connection);
//   - deleting an offline one is what a client would do: a clean-start
//     connect with expiry 0, then its normal disconnect. The connect names
//     a connection of this node, so if the disconnect fails to commit this
//     node's sweep ends it (mqtt sweep.go).

// kickClient: DELETE /v1/clients/{id} disconnects the client wherever it
// is connected; its session stays as its expiry says, its will is
// published as for any close without DISCONNECT 0x00.
func (s *server) kickClient(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	se, ok := s.onlineSession(w, id)
	if !ok {
		return
	}
	e := disconnectEntry(se, false)
	if off, ok := s.proposeEntry(w, r, &e); ok {
		writeJSON(w, http.StatusOK, map[string]any{"disconnected": id, "node": presence.NodeOf(se.Node), "offset": uint64(off)})
	}
}

// onlineSession returns id's session if it is connected, else answers 404.
func (s *server) onlineSession(w http.ResponseWriter, id string) (fsm.Session, bool) {
	v, ok := s.view(w)
	if !ok {
		return fsm.Session{}, false
	}
	se, ok := v.Session(id)
	if !ok || !se.Connected {
		writeError(w, http.StatusNotFound, fmt.Errorf("httpapi: client %q is not connected", id))
		return fsm.Session{}, false
	}
	return se, true
}

// disconnectEntry ends se's current connection; end also ends the session.
func disconnectEntry(se fsm.Session, end bool) fsm.Entry {
	return fsm.Entry{Kind: fsm.KindSessionDisconnect, ClientID: se.ClientID,
		Disconnect: fsm.Disconnect{Reason: fsm.ReasonWithWill, Since: se.ConnectOffset, HasExpiry: end}}
}

// deleteSession: DELETE /v1/sessions/{id} deletes the session on every
// node, disconnecting its client first when it is online.
func (s *server) deleteSession(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	v, ok := s.view(w)
	if !ok {
		return
	}
	se, ok := v.Session(id)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Errorf("httpapi: no session %q", id))
		return
	}
	if se.Connected {
		e := disconnectEntry(se, true)
		if _, ok := s.proposeEntry(w, r, &e); ok {
			writeJSON(w, http.StatusOK, map[string]any{"deleted": id, "disconnected": true})
		}
		return
	}
	if s.endOffline(w, r, id) {
		writeJSON(w, http.StatusOK, map[string]any{"deleted": id, "disconnected": false})
	}
}

// endOffline ends an offline session as a clean-start connect with expiry
// 0 and its normal disconnect would (a will still waiting for its delay is
// cancelled, as a reconnect cancels it). On failure it has answered.
func (s *server) endOffline(w http.ResponseWriter, r *http.Request, id string) bool {
	c := fsm.Entry{Kind: fsm.KindSessionConnect, ClientID: id, Connect: fsm.Connect{CleanStart: true,
		ProtocolVersion: 5, Node: s.o.Identity.ID + "/admin-delete"}}
	off, ok := s.proposeEntry(w, r, &c)
	if !ok {
		return false
	}
	d := fsm.Entry{Kind: fsm.KindSessionDisconnect, ClientID: id,
		Disconnect: fsm.Disconnect{Reason: fsm.ReasonNormal, Since: off}}
	_, ok = s.proposeEntry(w, r, &d)
	return ok
}
