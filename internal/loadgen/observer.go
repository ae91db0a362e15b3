package loadgen

import (
	"encoding/json"
	"sync"

	"github.com/wsrelay/wsrelay/internal/wsclient"
)

// ObserverPage is an observer page held open during a run, to measure
// what an open page costs the node: a client of the observer's live
// socket showing one view, reading every update.
type ObserverPage struct {
	c       *wsclient.Client
	wg      sync.WaitGroup
	mu      sync.Mutex
	updates int
}

// OpenObserverPage opens the observer's live socket at url
// (ws://HOST:PORT/live, with ?token=... when it has one) and asks for
// view.
func OpenObserverPage(url, view string) (*ObserverPage, error) {
	if err := CheckLoopback(url); err != nil {
		return nil, err
	}
	c, err := dial(url)
	if err != nil {
		return nil, err
	}
	req, _ := json.Marshal(map[string]any{"view": view, "query": map[string]any{"limit": 100}})
	if err := c.WriteText(string(req)); err != nil {
		c.Close()
		return nil, err
	}
	c.Timeout = -1
	p := &ObserverPage{c: c}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			_, data, err := c.ReadMessage()
			if err != nil {
				return
			}
			var m struct {
				View string `json:"view"`
			}
			if json.Unmarshal(data, &m) == nil && m.View == view {
				p.mu.Lock()
				p.updates++
				p.mu.Unlock()
			}
		}
	}()
	return p, nil
}

// Close closes the page and returns how many updates of its view it got.
func (p *ObserverPage) Close() int {
	p.c.Close()
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.updates
}
