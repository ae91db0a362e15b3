package cluster

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
)

// MaxQuestion bounds the bytes of a question to another node (Ask); a
// larger one is refused by the asker and dropped by the answerer.
const MaxQuestion = 4096

// ErrNoAnswerer: the node asked has nobody answering that kind of
// question (or is not there).
var ErrNoAnswerer = errors.New("cluster: no answer from the node")

// Answer makes this node answer questions of a kind from the other nodes
// (Ask), over the cluster's NATS connection: f gets the question's bytes
// and returns the answer's. An answer larger than the NATS server's max
// payload is replaced by a JSON error. The returned func stops answering.
// Call it after Start. The questions are read-only requests of
// observers: f must not trust them beyond their bound.
func (t *Transport) Answer(kind string, f func(question []byte) []byte) (stop func(), err error) {
	sub, err := t.nc.Subscribe(t.askSubject(kind, t.name), func(m *nats.Msg) {
		if m.Reply == "" || len(m.Data) > MaxQuestion {
			return
		}
		b := f(m.Data)
		if max := t.nc.MaxPayload(); max > 0 && int64(len(b)) > max {
			b = []byte(`{"error":"the answer is larger than the NATS max payload"}`)
		}
		_ = m.Respond(b)
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: answer %s: %w", kind, err)
	}
	return func() { _ = sub.Unsubscribe() }, nil
}

// Ask asks another node a question of a kind (see Answer) and waits for
// its answer until ctx is done.
func (t *Transport) Ask(ctx context.Context, node, kind string, question []byte) ([]byte, error) {
	if len(question) > MaxQuestion {
		return nil, fmt.Errorf("cluster: a question of %d bytes, more than %d", len(question), MaxQuestion)
	}
	m, err := t.nc.RequestWithContext(ctx, t.askSubject(kind, node), question)
	if errors.Is(err, nats.ErrNoResponders) {
		return nil, fmt.Errorf("%w (%s, %s)", ErrNoAnswerer, node, kind)
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: ask %s: %w", node, err)
	}
	return m.Data, nil
}

func (t *Transport) askSubject(kind, node string) string {
	return t.opts.Cluster + ".ask." + kind + "." + node
}
