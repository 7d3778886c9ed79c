/* Keyboard shortcuts for the draft approval queue, and copy buttons for LinkedIn tasks.
 * The page is complete without this file: every action is a form that posts and
 * redirects; the keys only move between drafts and press those forms' buttons.
 *   j / k  next / previous draft      x  tick the draft for "Approve selected"
 *   a      approve it                 e  open "Edit, then approve"
 *   r      type a reason to reject it */
(function () {
  "use strict";

  function copyFrom(id, button) {
    var field = document.getElementById(id);
    if (!field) {
      return;
    }
    function done() {
      button.textContent = "Copied";
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(done, function () {
        field.select();
      });
      return;
    }
    // Plain http: the clipboard API is unavailable, so select the text for Ctrl+C.
    field.focus();
    field.select();
    try {
      if (document.execCommand("copy")) {
        done();
      }
    } catch (ignored) {
      /* the text stays selected for the user to copy */
    }
  }

  Array.prototype.forEach.call(document.querySelectorAll("button[data-copy]"), function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      copyFrom(button.getAttribute("data-copy"), button);
    });
  });

  var cards = Array.prototype.slice.call(document.querySelectorAll(".draft-card"));
  if (!cards.length) {
    return;
  }
  var help = document.getElementById("shortcut-help");
  if (help) {
    help.hidden = false;
  }
  var current = -1;

  function select(index) {
    if (index < 0 || index >= cards.length) {
      return;
    }
    if (current >= 0) {
      cards[current].classList.remove("is-current");
      cards[current].removeAttribute("aria-current");
    }
    current = index;
    var card = cards[current];
    card.classList.add("is-current");
    card.setAttribute("aria-current", "true");
    card.focus({ preventScroll: true });
    card.scrollIntoView({ block: "nearest" });
  }

  function typing(target) {
    if (!target || !target.tagName) {
      return false;
    }
    var tag = target.tagName.toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
  }

  cards.forEach(function (card, index) {
    // Clicking into a draft makes it the current one, so keys act on what you look at.
    card.addEventListener("focusin", function () {
      if (current !== index) {
        select(index);
      }
    });
  });

  function submit(form) {
    if (!form) {
      return;
    }
    if (form.requestSubmit) {
      form.requestSubmit();
    } else {
      form.submit();
    }
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) {
      return;
    }
    var key = event.key;
    if (key === "j") {
      select(current < 0 ? 0 : Math.min(current + 1, cards.length - 1));
    } else if (key === "k") {
      select(current < 0 ? 0 : Math.max(current - 1, 0));
    } else if (current < 0) {
      return;
    } else if (key === "x") {
      var box = cards[current].querySelector("input[data-select]");
      if (box) {
        box.checked = !box.checked;
      }
    } else if (key === "a") {
      submit(cards[current].querySelector("form[data-action=approve]"));
    } else if (key === "e") {
      var edit = cards[current].querySelector("details[data-edit]");
      if (edit) {
        edit.open = true;
        var first = edit.querySelector("input:not([type=hidden]), textarea");
        if (first) {
          first.focus();
        }
      }
    } else if (key === "r") {
      var reason = cards[current].querySelector("input[data-reason]");
      if (reason) {
        reason.focus();
      }
    } else {
      return;
    }
    event.preventDefault();
  });
})();
