// The message box: Enter sends, Shift+Enter adds a line, Up in an empty box edits the
// viewer's last message, Escape cancels an edit, and "@na" offers names to complete.

import { getJson, getText, post } from "./api.js";

const PINGABLE_TTL_MS = 60_000;
const PINGABLE_RETRY_MS = 1_000;

export class Composer {
  /**
   * @param {object} options
   * @param {HTMLFormElement} options.form
   * @param {HTMLTextAreaElement} options.input
   * @param {HTMLElement} options.mode shows "Editing …"
   * @param {HTMLUListElement} options.mentionList
   * @param {number} options.roomId
   * @param {() => object|null} options.lastEditable the viewer's newest editable record
   * @param {(text: string, isError?: boolean) => void} options.status
   */
  constructor(options) {
    Object.assign(this, options);
    this.editing = null; // message id being edited
    this.sending = false;
    this.pingable = null;
    this.pingableAt = 0;
    this.pingableRetry = null; // timer that asks again after a failed fetch
    this.choices = [];
    this.active = -1;
    this.input.setAttribute("aria-autocomplete", "list");
    this.input.setAttribute("aria-controls", this.mentionList.id);
    this.input.setAttribute("aria-expanded", "false");
    this.input.setAttribute("aria-describedby", this.mode.id);
    this.input.placeholder = "Type a message (Enter sends, Shift+Enter for a new line)";
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.input.addEventListener("keydown", (event) => this.keydown(event));
    this.input.addEventListener("input", () => this.suggest());
    // Focus that comes straight back (a click on a message's button, then typing again) must
    // not close the list the returning keystrokes drew.
    this.input.addEventListener("blur", () =>
      setTimeout(() => {
        if (document.activeElement !== this.input) {
          this.closeList();
        }
      }, 150),
    );
    this.mentionList.addEventListener("mousedown", (event) => {
      const option = event.target.closest("[role=option]");
      if (option) {
        event.preventDefault(); // keep focus in the box
        this.accept(Number(option.dataset.index));
      }
    });
    // The room screen is for talking: the box has focus from the start, unless the reader
    // already moved it somewhere while the page loaded. (An autofocus attribute would change
    // the literal <textarea id="input"> that bots look for.)
    if (!document.activeElement || document.activeElement === document.body) {
      this.input.focus({ preventScroll: true });
    }
  }

  keydown(event) {
    if (event.isComposing) {
      return; // an IME is composing: Enter belongs to it
    }
    if (this.choices.length) {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        const step = event.key === "ArrowDown" ? 1 : -1;
        this.highlight((this.active + step + this.choices.length) % this.choices.length);
        return;
      }
      if (event.key === "Enter" || event.key === "Tab") {
        event.preventDefault();
        this.accept(Math.max(this.active, 0));
        return;
      }
      if (event.key === "Escape") {
        event.preventDefault();
        this.closeList();
        return;
      }
    }
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      this.submit();
    } else if (event.key === "ArrowUp" && this.input.value === "" && this.editing === null) {
      const record = this.lastEditable();
      if (record) {
        event.preventDefault();
        this.startEdit(record.message_id);
      }
    } else if (event.key === "Escape" && this.editing !== null) {
      event.preventDefault();
      this.stopEdit();
    }
  }

  /** The reply arrow: `:<id> ` in front of whatever is typed. */
  replyTo(messageId) {
    const text = this.input.value.replace(/^:\d+\s*/, "");
    this.input.value = `:${messageId} ${text}`;
    this.input.focus();
    this.input.setSelectionRange(this.input.value.length, this.input.value.length);
  }

  async startEdit(messageId) {
    let source;
    try {
      source = await getText(`/message/${messageId}?plain=true`);
    } catch (error) {
      this.status("That message can no longer be edited", true);
      return;
    }
    this.editing = messageId;
    this.input.value = source;
    this.mode.hidden = false;
    this.mode.textContent = "Editing your message. Enter saves, Escape cancels.";
    this.form.classList.add("editing");
    this.input.focus();
    this.input.setSelectionRange(source.length, source.length);
  }

  stopEdit() {
    this.editing = null;
    this.input.value = "";
    this.mode.hidden = true;
    this.mode.textContent = "";
    this.form.classList.remove("editing");
  }

  async submit() {
    const text = this.input.value;
    if (this.sending || text.trim() === "") {
      return;
    }
    this.sending = true;
    try {
      if (this.editing !== null) {
        const result = await post(`/messages/${this.editing}`, { text });
        if (result.ok) {
          this.stopEdit();
        } else {
          this.status(result.error, true);
        }
        return;
      }
      const result = await post(`/chats/${this.roomId}/messages/new`, { text });
      if (result.ok && result.body && result.body.id === null) {
        this.status("You just said that. Change it a little to send it again.", true);
      } else if (result.ok) {
        // The message itself arrives on the event stream, like everyone else's.
        this.input.value = "";
        this.closeList();
      } else {
        this.status(result.error, true);
      }
    } finally {
      this.sending = false;
    }
  }

  // "@name" completion from GET /rooms/pingable/{room}

  async names() {
    if (this.pingable === null || Date.now() - this.pingableAt > PINGABLE_TTL_MS) {
      try {
        const rows = await getJson(`/rooms/pingable/${this.roomId}`);
        this.pingable = rows.map((row) => String(row[1]));
        this.pingableAt = Date.now();
      } catch (error) {
        // Completion must not wait for the next keystroke to recover from one failed request.
        this.pingable = this.pingable || [];
        this.suggestAgainSoon();
      }
    }
    return this.pingable;
  }

  suggestAgainSoon() {
    if (this.pingableRetry === null) {
      this.pingableRetry = setTimeout(() => {
        this.pingableRetry = null;
        if (document.activeElement === this.input) {
          this.suggest();
        }
      }, PINGABLE_RETRY_MS);
    }
  }

  /** The "@abc" just before the caret, if any. */
  typedMention() {
    const caret = this.input.selectionStart;
    const before = this.input.value.slice(0, caret);
    const match = /(^|\s)@([^\s@]*)$/.exec(before);
    return match ? { start: caret - match[2].length, prefix: match[2] } : null;
  }

  async suggest() {
    const typed = this.typedMention();
    if (typed === null) {
      this.closeList();
      return;
    }
    const prefix = typed.prefix.toLowerCase();
    const asked = this.input.value;
    const names = await this.names();
    if (this.input.value !== asked) {
      return; // typed on meanwhile: the suggestion for what is there now is on its way
    }
    const handles = names
      .map((name) => name.replace(/\s+/g, ""))
      .filter((handle) => handle.toLowerCase().startsWith(prefix) && handle.toLowerCase() !== prefix);
    this.choices = Array.from(new Set(handles)).slice(0, 8);
    this.renderList();
  }

  renderList() {
    this.mentionList.textContent = "";
    this.choices.forEach((handle, index) => {
      const option = document.createElement("li");
      option.id = `mention-option-${index}`;
      option.setAttribute("role", "option");
      option.dataset.index = String(index);
      option.textContent = `@${handle}`;
      this.mentionList.append(option);
    });
    this.mentionList.hidden = this.choices.length === 0;
    this.input.setAttribute("aria-expanded", String(this.choices.length > 0));
    this.highlight(this.choices.length ? 0 : -1);
  }

  highlight(index) {
    this.active = index;
    for (const option of this.mentionList.children) {
      option.setAttribute("aria-selected", String(Number(option.dataset.index) === index));
    }
    if (index >= 0) {
      this.input.setAttribute("aria-activedescendant", `mention-option-${index}`);
    } else {
      this.input.removeAttribute("aria-activedescendant");
    }
  }

  accept(index) {
    const typed = this.typedMention();
    const handle = this.choices[index];
    if (typed && handle) {
      const value = this.input.value;
      const caret = this.input.selectionStart;
      const insert = `${handle} `;
      this.input.value = value.slice(0, typed.start) + insert + value.slice(caret);
      const at = typed.start + insert.length;
      this.input.setSelectionRange(at, at);
    }
    this.closeList();
    this.input.focus();
  }

  closeList() {
    this.choices = [];
    this.mentionList.hidden = true;
    this.mentionList.textContent = "";
    this.input.setAttribute("aria-expanded", "false");
    this.input.removeAttribute("aria-activedescendant");
  }
}
