// The chat page: one WebSocket to /ws/chat, JSON events in, JSON commands out.
//
// When the connection drops (the server restarted, the network blinked, the
// node that ran the room was lost), the page reconnects with growing delays
// and rejoins the room it was in, keeping the messages it shows. Meanwhile
// it says so: the member list is marked as last known, the status line
// names each attempt and why the last one failed, and a message typed then
// stays in its box with the reason it was not sent (it is never sent by
// itself later). A message sent just before the connection dropped, whose
// echo from the room never came, is put back in the box the same way. The
// nick and room are remembered in localStorage for the next visit.
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
  let countdown = null; // updates the status line while a retry waits
  let unconfirmed = []; // own messages sent and not yet echoed by the room, oldest first

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

  // note says, under the message box, why what it holds was not sent;
  // "" hides it.
  function note(text) {
    $("send-note").textContent = text;
    $("send-note").hidden = text === "";
  }

  // stale marks the member list as last known (disconnected) or current.
  function stale(on) {
    $("members").classList.toggle("stale", on);
    $("members-state").textContent = on ? "(last known)" : "";
  }

  // whyClosed names a close for the status line: its code, and its reason
  // when the server gave one.
  function whyClosed(e) {
    if (e.code === 1006) return "close 1006: no connection";
    return "close " + e.code + (e.reason ? ": " + e.reason : "");
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
        stale(false);
        showMembers(ev.members);
        setStatus("Connected to #" + ev.room + " as " + ev.nick + ".");
        if ($("text").value.trim() !== "" && !$("send-note").hidden) {
          note("Connected again: press Send to send it.");
        }
        break;
      }
      case "joined":
        // A member hears of its own arrival too, just before its welcome.
        if (session && ev.nick !== session.nick) addLine("note", "", ev.nick + " joined.");
        showMembers(ev.members);
        break;
      case "left":
        addLine("note", "", ev.nick + " left.");
        showMembers(ev.members);
        break;
      case "presence":
        showMembers(ev.members);
        break;
      case "message": {
        const own = session && ev.nick === session.nick;
        if (own) {
          const i = unconfirmed.indexOf(ev.text);
          if (i >= 0) unconfirmed.splice(i, 1);
        }
        addLine(own ? "own" : "msg", ev.nick, ev.text, ev.at);
        break;
      }
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
    clearInterval(countdown);
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
      stale(true);
      restoreUnconfirmed();
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

  // reconnect tries again after a delay; the status line names the
  // attempt and why the last one ended, and counts down to the next.
  function reconnect(e) {
    attempt++;
    const delay = Math.min(500 * 2 ** (attempt - 1), MAX_DELAY) + Math.floor(Math.random() * 250);
    const why = e.code === 1001 ? "The chat server is restarting" : "Disconnected";
    if (attempt === 1) addLine("note", "", why + " (" + whyClosed(e) + "). Reconnecting…");
    const next = attempt;
    const at = Date.now() + delay;
    const tell = () => {
      const left = Math.max(0, Math.ceil((at - Date.now()) / 1000));
      setStatus(why + " (" + whyClosed(e) + "). Reconnecting in " + left + " s (attempt " + next + ")…", true);
    };
    tell();
    clearInterval(countdown);
    countdown = setInterval(tell, 1000);
    retryTimer = setTimeout(() => {
      clearInterval(countdown);
      setStatus(why + " (" + whyClosed(e) + "). Reconnecting now (attempt " + next + ")…", true);
      connect(session.nick, session.room);
    }, delay);
  }

  // restoreUnconfirmed puts back in the box the oldest own message the
  // room never echoed (the connection ended first), if the box is empty:
  // it may not have been sent.
  function restoreUnconfirmed() {
    if (unconfirmed.length === 0) return;
    const text = unconfirmed[0];
    unconfirmed = [];
    if ($("text").value.trim() === "") {
      $("text").value = text;
      note("Perhaps not sent: the connection ended before the room confirmed it. It will not be sent automatically; press Send again once connected.");
    }
  }

  // send sends a command, or says why it cannot: the caller keeps what
  // the user typed.
  function send(cmd) {
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify(cmd));
      note("");
      return true;
    }
    note("Not sent: disconnected. It will not be sent automatically; press Send again once connected.");
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
    if (text && send({ type: "say", text: text })) {
      unconfirmed.push(text);
      $("text").value = "";
    }
  });
  $("switch-form").addEventListener("submit", (e) => {
    e.preventDefault();
    if (send({ type: "switch", room: $("switch-room").value.trim() })) $("switch-room").value = "";
  });
  $("leave").addEventListener("click", () => {
    leaving = true;
    clearTimeout(retryTimer);
    clearInterval(countdown);
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
