// Package pg is process groups in the manner of Erlang's pg, across the
// nodes of a cluster: processes (Lua processes, relay clients, any PID of
// the node) join named groups of a scope, and a broadcast to a group
// reaches every member on every node.
//
// A Service holds a node's scopes. Each node owns its own members: it
// tells every other node of its joins and leaves, sends its whole state
// to a node that comes up, and removes a member everywhere when the
// member ends (the Service's watcher process monitors it). When a node is
// lost, every other node removes its members, with one member.left event
// per group. A broadcast costs one cluster message per node that has
// members of the group, encoded once; that node hands it to its own
// members.
//
// Guarantees:
//
//   - Join, leave and the events of a scope are applied under the scope's
//     lock: a Monitor's snapshot and its subscription see the same state,
//     so no change slips between them, and every subscriber sees one
//     scope's changes in one order.
//   - Messages broadcast by one sender to one group reach each member in
//     the order sent (one ordered stream per pair of nodes), as do a
//     sender's own messages and its broadcasts to one member.
//   - Delivery is at most once, like process.Node.Send: a member whose
//     mailbox is full misses the message.
//   - Everything a script or a client can grow is bounded (ScopeOptions):
//     groups, members per group, members per scope on this node,
//     subscriptions, and each subscription's buffered events, in count
//     and bytes. A full subscription gets an Overflow event and ends.
//
// Without a cluster (Options.Carrier nil) the scopes are the node's own.
// See docs/pg.md.
package pg
