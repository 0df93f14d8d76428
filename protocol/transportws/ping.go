package transportws

// AppendPing appends a server ping without payload to dst: the message a
// server sends to learn whether the client is still there, which the client
// answers with a pong.
func (Server) AppendPing(dst []byte) []byte {
	b, _ := Ping{}.appendTo(dst) // a ping without payload always encodes
	return b
}
