package mail

import (
	"crypto/tls"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// smtpServer is a small SMTP server on 127.0.0.1:0 for tests. It speaks
// enough of RFC 5321 for net/smtp (220, EHLO/HELO, STARTTLS, MAIL, RCPT,
// DATA with dot-unstuffing, RSET, NOOP, QUIT) and records each envelope.
type smtpServer struct {
	addr string
	// Options, set before the first connection.
	greeting   string          // first line; default "220 test ESMTP"
	tls        *tls.Config     // offer STARTTLS with this config when set
	rejectRcpt map[string]bool // answer 550 to RCPT TO for these
	stall      bool            // accept, then say nothing

	conns    atomic.Int32
	accepted chan struct{} // one value per accepted connection

	ln   net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	got  []envelope
	open map[net.Conn]bool
}

type envelope struct {
	helo string
	from string // MAIL FROM argument, parameters included
	to   []string
	data string // exactly as sent, dot-unstuffed, CRLF line endings
	tls  bool
}

func newSMTPServer(t *testing.T, configure func(s *smtpServer)) *smtpServer {
	t.Helper()
	s := &smtpServer{greeting: "220 test ESMTP", accepted: make(chan struct{}, 16), open: map[net.Conn]bool{}}
	if configure != nil {
		configure(s)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.ln, s.addr = ln, ln.Addr().String()
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(s.close)
	return s
}

func (s *smtpServer) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.conns.Add(1)
		s.mu.Lock()
		s.open[c] = true
		s.mu.Unlock()
		select {
		case s.accepted <- struct{}{}:
		default:
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.open, c)
				s.mu.Unlock()
				c.Close()
			}()
			if !s.stall {
				s.session(c)
				return
			}
			buf := make([]byte, 1)
			c.Read(buf) // until the client hangs up or the server closes
		}()
	}
}

func (s *smtpServer) close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.open {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *smtpServer) envelopes() []envelope {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]envelope(nil), s.got...)
}

func (s *smtpServer) session(c net.Conn) {
	tp := textproto.NewConn(c)
	var env envelope
	reply := func(line string) bool { return tp.PrintfLine("%s", line) == nil }
	if !reply(s.greeting) || !strings.HasPrefix(s.greeting, "220") {
		return
	}
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			env.helo = arg
			lines := []string{"250-test greets " + arg, "250-8BITMIME"}
			if s.tls != nil && !env.tls {
				lines = append(lines, "250-STARTTLS")
			}
			lines = append(lines, "250 HELP")
			for _, l := range lines {
				if !reply(l) {
					return
				}
			}
		case "HELO":
			env.helo = arg
			reply("250 test")
		case "STARTTLS":
			if s.tls == nil || env.tls {
				reply("502 not offered")
				continue
			}
			if !reply("220 go ahead") {
				return
			}
			tc := tls.Server(c, s.tls)
			if err := tc.Handshake(); err != nil {
				return
			}
			c = tc
			tp = textproto.NewConn(tc)
			env = envelope{tls: true} // RFC 3207: forget everything from before
		case "MAIL":
			env.from = strings.TrimPrefix(arg, "FROM:")
			env.to, env.data = nil, ""
			reply("250 ok")
		case "RCPT":
			to := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(arg, "TO:"), "<"), ">")
			if s.rejectRcpt[to] {
				reply("550 5.1.1 <" + to + "> no such user here")
				continue
			}
			env.to = append(env.to, to)
			reply("250 ok")
		case "DATA":
			if env.from == "" || len(env.to) == 0 {
				reply("503 bad sequence")
				continue
			}
			if !reply("354 end with .") {
				return
			}
			var b strings.Builder
			for {
				l, err := tp.ReadLine()
				if err != nil {
					return
				}
				if l == "." {
					break
				}
				b.WriteString(strings.TrimPrefix(l, ".") + "\r\n")
			}
			env.data = b.String()
			s.mu.Lock()
			s.got = append(s.got, env)
			s.mu.Unlock()
			env = envelope{helo: env.helo, tls: env.tls}
			reply("250 queued")
		case "RSET":
			env = envelope{helo: env.helo, tls: env.tls}
			reply("250 ok")
		case "NOOP":
			reply("250 ok")
		case "QUIT":
			reply("221 bye")
			return
		default:
			reply("500 unknown command")
		}
	}
}
