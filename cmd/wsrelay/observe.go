package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/wsrelay/wsrelay/config"
	"github.com/wsrelay/wsrelay/gateway"
	"github.com/wsrelay/wsrelay/observer"
)

// maxTokenFile bounds the token file read for --observe-token-file.
const maxTokenFile = 4096

// observeFlags checks --observe and --observe-token-file before anything
// starts, so that a wrong one stops the command with its reason.
func observeFlags(addr, tokenFile string, actions bool) (observer.Options, error) {
	if addr == "" {
		if tokenFile != "" || actions {
			return observer.Options{}, errors.New("--observe-token-file and --observe-actions need --observe ADDR")
		}
		return observer.Options{}, nil
	}
	o := observer.Options{Addr: addr, Actions: actions}
	if tokenFile != "" {
		f, err := os.Open(tokenFile)
		if err != nil {
			return o, fmt.Errorf("--observe-token-file: %w", err)
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, maxTokenFile+1))
		if err != nil {
			return o, fmt.Errorf("--observe-token-file %s: %w", tokenFile, err)
		}
		if len(b) > maxTokenFile {
			return o, fmt.Errorf("--observe-token-file %s: longer than %d bytes", tokenFile, maxTokenFile)
		}
		if o.Token = strings.TrimSpace(string(b)); o.Token == "" {
			return o, fmt.Errorf("--observe-token-file %s: the file is empty", tokenFile)
		}
	}
	return o, observer.CheckAddr(o.Addr, o.Token)
}

// observeEntry reads the app's observer entry, if it has one.
func observeEntry(cfg *config.App) (observer.Options, error) {
	for _, e := range cfg.Entries {
		s, ok := e.Spec.(*config.Observer)
		if !ok {
			continue
		}
		o := observer.Options{Addr: s.Addr, Token: s.Token(), Actions: s.Actions}
		if s.TokenEnv != "" && o.Token == "" {
			return o, fmt.Errorf("%s: the environment variable %s (token_env) is empty or not set", e.ID, s.TokenEnv)
		}
		if err := observer.CheckAddr(o.Addr, o.Token); err != nil {
			return o, fmt.Errorf("%s: %w", e.ID, err)
		}
		return o, nil
	}
	return observer.Options{}, nil
}

// answerObservers makes a node of a cluster answer the observers of the
// other nodes, whether or not it serves one itself; the returned func
// stops it.
func answerObservers(cn *clusterNode, app *gateway.App, log *slog.Logger) (func(), error) {
	if cn == nil {
		return func() {}, nil
	}
	l := observer.OfApp(app)
	l.Logger = log // the actions other nodes' observers carry out here
	return observer.Answer(cn.tr, l)
}

// startObserver serves the observer of the running app; the returned func
// stops it.
func startObserver(o observer.Options, app *gateway.App, cn *clusterNode, log *slog.Logger) (func(), error) {
	l := observer.OfApp(app)
	o.Node, o.Groups, o.Counters, o.Conns, o.Tracer, o.Global, o.Lua, o.Logger = l.Node, l.PG, l.Counters, l.Conns, l.Tracer, l.Global, l.Lua, log
	if cn != nil {
		o.Cluster = observer.Over(cn.tr)
	}
	obs, err := observer.Start(o)
	if err != nil {
		return nil, err
	}
	log.Info("observer listening", "url", "http://"+obs.Addr()+"/")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		obs.Close(ctx)
	}, nil
}
