// The chat page: one WebSocket to /ws/chat, JSON events in, JSON commands out.
//
// When the connection drops (the server restarted, the network blinked),
// the page reconnects with growing delays and rejoins the room it was in,
// keeping the messages it shows. The nick and room are remembered in
// localStorage for the next visit.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const STORE = "wsrelay-chat";
  const MAX_DELAY = 10000; // ms between reconnection attempts, at most

  let ws = null;
  let leaving = false;
  let session = null;   // {nick, room} once welcomed; kept while reconnecting
  let attempt = 0;      // reconnection attempts since the last welcome
  let retryTimer = null;

  function setStatus(text, isError) {
    $("status").textContent = text;
    $("status").title = text;
    $("status").className = isError ? "status error" : "status";
  }

  function remember(nick, room) {
    try { localStorage.setItem(STORE, JSON.stringify({ nick: nick, room: room })); } catch (e) { /* storage off */ }
  }

  function recall() {
    try { return JSON.parse(localStorage.getItem(STORE)) || {}; } catch (e) { return {}; }
  }

  function showChat(on) {
    $("chat").hidden = !on;
    $("join-form").hidden = on;
  }

  function showMembers(list) {
    const ul = $("members");
    ul.replaceChildren();
    // An empty Lua list arrives as {}: treat anything but an array as none.
    for (const nick of Array.isArray(list) ? list : []) {
      const li = document.createElement("li");
      li.textContent = nick;
      if (session && nick === session.nick) {
        li.className = "me";
        const you = document.createElement("span");
        you.className = "you";
        you.textContent = " (you)";
        li.appendChild(you);
      }
      ul.appendChild(li);
    }
  }

  function clock(date) {
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });
  }

  // addLine shows a line: kind is "msg", "own", "note" or "error"; at is
  // the server's time in Unix seconds, or undefined for now.
  function addLine(kind, nick, text, at) {
    const li = document.createElement("li");
    li.className = "line " + kind;
    const when = typeof at === "number" ? new Date(at * 1000) : new Date();
    const time = document.createElement("time");
    time.dateTime = when.toISOString();
    time.textContent = clock(when);
    li.appendChild(time);
    if (nick) {
      const b = document.createElement("span");
      b.className = "nick";
      b.textContent = nick;
      li.appendChild(b);
    }
    const t = document.createElement("span");
    t.className = "text";
    t.textContent = text;
    li.appendChild(t);
    $("messages").appendChild(li);
    $("messages").scrollTop = $("messages").scrollHeight;
  }

  function onEvent(ev) {
    switch (ev.event) {
      case "welcome": {
        const before = session;
        session = { nick: ev.nick, room: ev.room };
        remember(ev.nick, ev.room);
        $("room-name").textContent = ev.room;
        if (attempt > 0 && before) {
          addLine("note", "", "Reconnected to #" + ev.room + ".");
        } else if (before && before.room !== ev.room) {
          addLine("note", "", "You are in #" + ev.room + " now.");
        } else {
          addLine("note", "", "You are " + ev.nick + " in #" + ev.room + ".");
        }
        attempt = 0;
        showMembers(ev.members);
        setStatus("Connected to #" + ev.room + " as " + ev.nick + ".");
        break;
      }
      case "joined":
        if (!session || ev.nick !== session.nick) addLine("note", "", ev.nick + " joined.");
        showMembers(ev.members);
        break;
      case "left":
        addLine("note", "", ev.nick + " left.");
        showMembers(ev.members);
        break;
      case "presence":
        showMembers(ev.members);
        break;
      case "message":
        addLine(session && ev.nick === session.nick ? "own" : "msg", ev.nick, ev.text, ev.at);
        break;
      case "error":
        addLine("error", "", ev.text);
        break;
    }
  }

  // closeText says in words why a connection that was never welcomed
  // ended, or returns "" when it is worth trying again.
  function closeText(e, nick, room) {
    switch (e.code) {
      case 4001: return "That nick or room is not allowed: use 1 to 24 letters, digits, - or _.";
      case 4002: return "The nick " + nick + " is taken in #" + room + ". Pick another one.";
      case 1006: return "Could not reach the chat server. Is it running?";
      case 1001: return "The chat server is shutting down. Try again in a moment.";
    }
    return "The chat server ended the connection" + (e.reason ? ": " + e.reason + "." : ".");
  }

  function connect(nick, room) {
    clearTimeout(retryTimer);
    retryTimer = null;
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const url = scheme + location.host + "/ws/chat?nick=" + encodeURIComponent(nick) + "&room=" + encodeURIComponent(room);
    if (attempt === 0) setStatus("Connecting…");
    leaving = false;
    const sock = new WebSocket(url);
    ws = sock;
    sock.onopen = () => {
      showChat(true);
      $("text").focus();
    };
    sock.onmessage = (m) => {
      try { onEvent(JSON.parse(m.data)); } catch (err) { console.error("bad event", m.data, err); }
    };
    sock.onclose = (e) => {
      if (ws !== sock) return; // an older socket
      ws = null;
      if (leaving) {
        session = null;
        attempt = 0;
        showChat(false);
        setStatus("You left the chat.");
        return;
      }
      // A chat that was going on reconnects; being refused does not.
      // (A nick taken on rejoining may be our own old connection, not yet
      // gone: a few more tries.)
      const refused = e.code === 4001 || (e.code === 4002 && (attempt === 0 || attempt >= 5));
      if (session && !refused) {
        reconnect(e);
        return;
      }
      session = null;
      attempt = 0;
      showChat(false);
      setStatus(closeText(e, nick, room), true);
    };
  }

  function reconnect(e) {
    attempt++;
    const delay = Math.min(500 * 2 ** (attempt - 1), MAX_DELAY) + Math.floor(Math.random() * 250);
    const why = e.code === 1001 ? "The chat server is restarting." : "The connection was lost.";
    if (attempt === 1) addLine("note", "", why + " Reconnecting…");
    setStatus(why + " Reconnecting in " + Math.ceil(delay / 1000) + " s (attempt " + attempt + ")…", true);
    retryTimer = setTimeout(() => connect(session.nick, session.room), delay);
  }

  function send(cmd) {
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify(cmd));
      return true;
    }
    addLine("error", "", "Not sent: not connected right now.");
    return false;
  }

  $("join-form").addEventListener("submit", (e) => {
    e.preventDefault();
    if (!$("join-form").reportValidity()) return;
    const nick = $("nick").value.trim(), room = $("room").value.trim();
    remember(nick, room);
    attempt = 0;
    connect(nick, room);
  });
  $("say-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("text").value.trim();
    if (text && send({ type: "say", text: text })) $("text").value = "";
  });
  $("switch-form").addEventListener("submit", (e) => {
    e.preventDefault();
    if (send({ type: "switch", room: $("switch-room").value.trim() })) $("switch-room").value = "";
  });
  $("leave").addEventListener("click", () => {
    leaving = true;
    clearTimeout(retryTimer);
    if (ws) {
      ws.close(1000, "bye");
    } else {
      session = null;
      attempt = 0;
      showChat(false);
      setStatus("You left the chat.");
    }
  });

  const saved = recall();
  if (typeof saved.nick === "string") $("nick").value = saved.nick;
  if (typeof saved.room === "string") $("room").value = saved.room;
  // Tests wait for this before they use the page.
  document.body.dataset.ready = "yes";
})();
