package config

import (
	"net"
	"os"
)

// KindObserver serves the live observer (package observer;
// docs/observer.md), like wsrelay run's --observe flags.
const KindObserver = "observer"

// Observer is where the live observer listens, and how it is guarded.
type Observer struct {
	Addr string `yaml:"addr"` // required, like 127.0.0.1:9100
	// TokenEnv names the environment variable holding the token every
	// request must carry; required for an address that is not loopback.
	TokenEnv string `yaml:"token_env"`
	Actions  bool   `yaml:"actions"` // pages may cancel, kill, close and send
}

func (s *Observer) Check(c *Checker) {
	if !c.Required("addr", s.Addr) {
		return
	}
	host, _, err := net.SplitHostPort(s.Addr)
	if err != nil {
		c.Fail("addr", "%q is not host:port: %v", s.Addr, err)
		return
	}
	if s.TokenEnv != "" && !envName.MatchString(s.TokenEnv) {
		c.Fail("token_env", "%q is not an environment variable's name", s.TokenEnv)
		return
	}
	loopback := host == "localhost"
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		loopback = true
	}
	if !loopback && s.TokenEnv == "" {
		c.Fail("addr", "%s is not a loopback address: the observer needs a token (token_env: NAME, the environment variable holding it), or listen on 127.0.0.1", s.Addr)
	}
}

// Token reads the observer's token from its environment variable: ""
// when there is none to read.
func (s *Observer) Token() string {
	if s.TokenEnv == "" {
		return ""
	}
	return os.Getenv(s.TokenEnv)
}
