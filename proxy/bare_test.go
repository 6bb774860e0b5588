package proxy

// bareServer is a Server for tests of session code that needs no listener or backends.
func bareServer(opts Options) *Server {
	s := &Server{opts: opts}
	s.tuned.Store(&s.opts)
	return s
}
