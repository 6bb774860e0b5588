// Package proxy owns the client side of tailgate: the listener, the handshake and
// authentication (go-mysql's server package, for the connection phase only), the
// per-session command loop, the raw packet relay between client and backend connections,
// and the session state that must follow a session from backend to backend.
//
// One session goroutine owns its client connection and all its backend connections;
// responses are relayed packet by packet without decoding rows, and only the final
// OK/ERR/EOF packets are read to learn the transaction status.
package proxy
