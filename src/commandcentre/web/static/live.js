/* Keeps the Agent Dashboard Panel current from the /live/dashboard event stream.
 * The page is complete without this file; it only swaps in fresher numbers and entries.
 * Text is set with textContent, never parsed as HTML: descriptions come from agents. */
(function () {
  "use strict";

  var panel = document.getElementById("agent-panel");
  if (!panel || !window.EventSource) {
    return;
  }
  var state = document.getElementById("live-state");

  function setState(text, live) {
    panel.setAttribute("data-live", live ? "on" : "off");
    if (state) {
      state.textContent = text;
    }
  }

  function setField(root, name, value) {
    var el = root.querySelector('[data-field="' + name + '"]');
    if (el && el.textContent !== String(value)) {
      el.textContent = String(value);
    }
    return el;
  }

  function updateCard(agent) {
    var card = document.getElementById("agent-card-" + agent.id);
    if (!card) {
      return;
    }
    setField(card, "name", agent.name);
    var badge = setField(card, "status", agent.statusLabel);
    if (badge) {
      badge.className = "badge status-" + agent.status;
    }
    card.setAttribute("data-status", agent.status);
    setField(card, "current", agent.current);
    setField(card, "done-today", agent.doneToday);
    setField(card, "tasks-completed", agent.tasksCompleted);
    setField(card, "success-rate", agent.successRate);
    setField(card, "queue", agent.queue);
    setField(card, "approvals", agent.approvals);
    (agent.headline || []).forEach(function (h) {
      setField(card, "metric-" + h.key, h.value);
    });
  }

  function element(tag, field, text) {
    var el = document.createElement(tag);
    if (field) {
      el.setAttribute("data-field", field);
    }
    if (text !== undefined) {
      el.textContent = text;
    }
    return el;
  }

  function activityItem(entry) {
    var li = document.createElement("li");
    li.setAttribute("data-activity-id", entry.id);
    li.setAttribute("data-activity-type", entry.activityType);
    if (entry.agent) {
      li.appendChild(element("strong", "agent", entry.agent));
      li.appendChild(document.createTextNode(" "));
    }
    li.appendChild(element("span", "description", entry.description));
    var meta = element("div", "", undefined);
    meta.className = "muted small";
    meta.appendChild(element("span", "when", entry.when));
    meta.appendChild(document.createTextNode(" · "));
    meta.appendChild(element("span", "type", entry.activityType.replace(/_/g, " ")));
    li.appendChild(meta);
    return li;
  }

  function updateFeed(entries) {
    var feed = document.getElementById("activity-feed");
    if (!feed) {
      return;
    }
    var shown = Array.prototype.map.call(feed.children, function (li) {
      return li.getAttribute("data-activity-id") || "";
    });
    var wanted = entries.map(function (entry) { return entry.id; });
    if (shown.join(",") === wanted.join(",")) {
      return;
    }
    var items = entries.map(activityItem);
    if (!items.length) {
      var empty = element("li", "", "No activity yet.");
      empty.className = "muted";
      empty.setAttribute("data-empty", "");
      items = [empty];
    }
    feed.replaceChildren.apply(feed, items);
  }

  function updatePending(count) {
    var el = document.getElementById("pending-approvals-count");
    if (el) {
      el.textContent = String(count);
    }
    var link = document.getElementById("pending-approvals");
    if (link) {
      link.classList.toggle("primary", count > 0);
    }
  }

  var source = new EventSource(panel.getAttribute("data-live-url"));
  source.addEventListener("open", function () {
    setState("live", true);
  });
  source.addEventListener("dashboard", function (event) {
    var data = JSON.parse(event.data);
    data.agents.forEach(updateCard);
    updatePending(data.pendingApprovals);
    updateFeed(data.activity);
    setState("live", true);
  });
  source.addEventListener("error", function () {
    // The browser reconnects on its own unless the stream was refused (signed out).
    setState(source.readyState === EventSource.CLOSED ? "not live: reload the page"
      : "reconnecting…", false);
  });
})();
