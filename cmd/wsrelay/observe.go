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
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/wsrelay"
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
func answerObservers(cn *clusterNode, app *gateway.App) (func(), error) {
	if cn == nil {
		return func() {}, nil
	}
	return observer.Answer(cn.tr, localView(app))
}

// localView is what the observer shows of this node's app.
func localView(app *gateway.App) observer.Local {
	return observer.Local{Node: app.Node(), PG: app.Groups(), Counters: app.Counters,
		Conns: func(yield func(observer.ConnInfo) bool) {
			app.EachConnection(func(c wsrelay.ConnInfo) bool {
				return yield(observer.ConnInfo{PID: c.PID, Route: c.Route, Remote: c.Remote, Origin: c.Origin, Path: c.Path,
					Target: c.Target, State: c.State, Opened: c.Opened, LastRead: c.LastRead, FramesIn: c.FramesIn, FramesOut: c.FramesOut})
			})
		},
		Tracer: func(client pid.PID, since uint64, payloads bool) (observer.TraceView, bool) {
			r, ok, err := app.Trace(client, since, payloads)
			if !ok {
				return observer.TraceView{}, false
			}
			v := observer.TraceView{PID: client.String(), Dropped: r.Dropped, Ended: r.Ended, Events: []observer.TraceEvent{}}
			if err != nil {
				v.Error = err.Error()
			}
			for _, e := range r.Events {
				v.Events = append(v.Events, observer.TraceEvent{Seq: e.Seq, Time: e.Time, Kind: e.Kind, Type: e.Type, Size: e.Size, Payload: e.Payload, Detail: e.Detail})
			}
			return v, true
		}}
}

// startObserver serves the observer of the running app; the returned func
// stops it.
func startObserver(o observer.Options, app *gateway.App, cn *clusterNode, log *slog.Logger) (func(), error) {
	l := localView(app)
	o.Node, o.Groups, o.Counters, o.Conns, o.Tracer, o.Logger = l.Node, l.PG, l.Counters, l.Conns, l.Tracer, log
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
