// Package auth decides who a client or caller is and what it may do:
// password files (bcrypt), the identities that MQTT connections and HTTP
// requests act for, and the rights they are granted (publish, subscribe,
// replay, admin) by an Authorizer (the ACL). mqtt and httpapi ask it; it
// knows nothing of either. docs/security.md describes the model.
package auth
