package observer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/value"
	"github.com/wsrelay/wsrelay/wsrelay"
)

// Action is what a page asks the observer to do to a process, when
// actions are enabled (Options.Actions).
type Action struct {
	// Do is "cancel" (the process gets a CANCEL event and its host's
	// grace), "kill" (terminated at once), "close" (a relay connection
	// is closed with Code and Reason) or "send" (Topic and Payload, a
	// JSON value, are sent to the process from the observer).
	Do      string          `json:"do"`
	PID     string          `json:"pid"`
	Node    string          `json:"node,omitempty"` // the PID's node, when it is not this one (asked over the cluster)
	Code    int             `json:"code,omitempty"`
	Reason  string          `json:"reason,omitempty"`
	Topic   string          `json:"topic,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// MaxActionBytes bounds an action request.
const MaxActionBytes = 64 << 10

// act serves POST /api/act. Only pages of the observer itself may ask
// (the Origin, which browsers send with every POST, must be the
// observer's own), and each action is logged with what was done to whom.
func (o *Observer) act(w http.ResponseWriter, r *http.Request) {
	if !o.opts.Actions {
		http.Error(w, "actions are off: start the observer with --observe-actions", http.StatusForbidden)
		return
	}
	if origin := r.Header.Get("Origin"); origin != "" {
		if u, err := url.Parse(origin); err != nil || u.Host != r.Host {
			http.Error(w, "an action must come from the observer's own pages", http.StatusForbidden)
			return
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxActionBytes))
	if tooLarge := (*http.MaxBytesError)(nil); errors.As(err, &tooLarge) {
		http.Error(w, fmt.Sprintf("the action is over %d bytes", MaxActionBytes), http.StatusRequestEntityTooLarge)
		return
	}
	if err != nil {
		http.Error(w, "reading the action: "+err.Error(), http.StatusBadRequest)
		return
	}
	var a Action
	if err := json.Unmarshal(body, &a); err != nil {
		http.Error(w, "the action is not JSON: "+err.Error(), http.StatusBadRequest)
		return
	}
	if a.Node != "" && a.Node != o.opts.Node.Name() {
		err = o.actRemote(r.Context(), a)
	} else {
		err = o.local.Do(a)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	o.log.Warn("observer action", "do", a.Do, "pid", a.PID, "node", a.Node, "code", a.Code, "reason", clip(a.Reason, wsrelay.MaxReason), "topic", clip(a.Topic, 200), "from", r.RemoteAddr)
	w.WriteHeader(http.StatusNoContent)
}

// actRemote asks the action's node to carry it out.
func (o *Observer) actRemote(ctx context.Context, a Action) error {
	if o.opts.Cluster == nil {
		return fmt.Errorf("node %q: this node is not in a cluster", clip(a.Node, 100))
	}
	if err := o.knownNode(a.Node); err != nil {
		return err
	}
	var ok struct {
		Done bool `json:"done"`
	}
	return o.ask(ctx, a.Node, Request{View: "act", Act: &a, From: o.opts.Node.Name()}, &ok)
}

// Do carries out an action on a process of this node. Actions come from
// this node's observer, or from another node's over the cluster (whose
// observer has actions on); the sender of what is sent is no process.
func (l Local) Do(a Action) error {
	target, err := pid.Parse(a.PID)
	if err != nil {
		return fmt.Errorf("pid %q: %w", clip(a.PID, 100), err)
	}
	n := l.Node
	if !n.IsLocal(target) {
		return fmt.Errorf("pid %s is not a process of this node (%s): name its node (\"node\": %q)", target, n.Name(), target.Node)
	}
	if !n.Alive(target) {
		return fmt.Errorf("no process %s", target)
	}
	switch a.Do {
	case "cancel":
		return n.Cancel(pid.PID{}, target, "cancelled from the observer")
	case "kill":
		return n.Terminate(target)
	case "close":
		if !wsrelay.SendableCode(a.Code) {
			return fmt.Errorf("close code %d may not be sent (use 1000, 1001, 1008, 1011, or 3000–4999)", a.Code)
		}
		return n.Send(pid.PID{}, target, wsrelay.TopicClose, value.Map(value.Field{Key: "code", Value: value.Int(int64(a.Code))},
			value.Field{Key: "reason", Value: value.String(wsrelay.TruncateReason(a.Reason))}))
	case "send":
		if a.Topic == "" || len(a.Topic) > 200 || a.Topic[0] == '@' {
			return errors.New("send needs a topic of 1 to 200 bytes, not starting with '@'")
		}
		payload := value.Nil()
		if len(a.Payload) > 0 {
			if payload, err = value.ParseJSON(a.Payload); err != nil {
				return fmt.Errorf("payload: %w", err)
			}
		}
		return n.Send(pid.PID{}, target, a.Topic, payload)
	}
	return fmt.Errorf("unknown action %q (cancel, kill, close or send)", clip(a.Do, 50))
}
