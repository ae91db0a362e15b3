// The chat page: one WebSocket to /ws/chat, JSON events in, JSON commands out.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  let ws = null;
  let leaving = false;

  function setStatus(text, isError) {
    $("status").textContent = text;
    $("status").className = isError ? "status error" : "status";
  }

  function showMembers(list) {
    const ul = $("members");
    ul.replaceChildren();
    // An empty Lua list arrives as {}: treat anything but an array as none.
    for (const nick of Array.isArray(list) ? list : []) {
      const li = document.createElement("li");
      li.textContent = nick;
      ul.appendChild(li);
    }
  }

  function addLine(nick, text, note) {
    const li = document.createElement("li");
    li.className = note ? "note msg" : "msg";
    if (nick) {
      const b = document.createElement("span");
      b.className = "nick";
      b.textContent = nick;
      li.appendChild(b);
    }
    li.appendChild(document.createTextNode(text));
    $("messages").appendChild(li);
    $("messages").scrollTop = $("messages").scrollHeight;
  }

  function onEvent(ev) {
    switch (ev.event) {
      case "welcome":
        $("room-name").textContent = ev.room;
        $("messages").replaceChildren();
        addLine("", "You are " + ev.nick + " in #" + ev.room + ".", true);
        showMembers(ev.members);
        setStatus("Connected to #" + ev.room + " as " + ev.nick + ".");
        break;
      case "joined":
        if (ev.nick !== $("nick").value) addLine("", ev.nick + " joined.", true);
        showMembers(ev.members);
        break;
      case "left":
        addLine("", ev.nick + " left.", true);
        showMembers(ev.members);
        break;
      case "presence":
        showMembers(ev.members);
        break;
      case "message":
        addLine(ev.nick, ev.text, false);
        break;
      case "error":
        addLine("", "Error: " + ev.text, true);
        break;
    }
  }

  function connect(nick, room) {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const url = scheme + location.host + "/ws/chat?nick=" + encodeURIComponent(nick) + "&room=" + encodeURIComponent(room);
    setStatus("Connecting…");
    leaving = false;
    ws = new WebSocket(url);
    ws.onopen = () => {
      $("join-form").hidden = true;
      $("chat").hidden = false;
      $("text").focus();
    };
    ws.onmessage = (m) => {
      try { onEvent(JSON.parse(m.data)); } catch (e) { console.error("bad event", m.data, e); }
    };
    ws.onclose = (e) => {
      $("chat").hidden = true;
      $("join-form").hidden = false;
      ws = null;
      if (leaving) {
        setStatus("You left the chat.");
      } else if (e.code === 1006) {
        setStatus("Could not connect, or the connection was lost (code 1006).", true);
      } else {
        setStatus("The server closed the connection: " + (e.reason || "no reason given") + " (code " + e.code + ").", true);
      }
    };
  }

  function send(cmd) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(cmd));
  }

  $("join-form").addEventListener("submit", (e) => {
    e.preventDefault();
    connect($("nick").value.trim(), $("room").value.trim());
  });
  $("say-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("text").value.trim();
    if (text) send({ type: "say", text: text });
    $("text").value = "";
  });
  $("switch-form").addEventListener("submit", (e) => {
    e.preventDefault();
    send({ type: "switch", room: $("switch-room").value.trim() });
    $("switch-room").value = "";
  });
  $("leave").addEventListener("click", () => {
    leaving = true;
    if (ws) ws.close(1000, "bye");
  });
  // Tests wait for this before they use the page.
  document.body.dataset.ready = "yes";
})();
