// The sechat HTTP form API, as the room screen uses it (shared/protocol/sechat.md §4).
// Every POST carries the page's fkey; answers are JSON, or plain text for refusals.

const fkeyInput = document.getElementById("fkey");

export function fkey() {
  return fkeyInput ? fkeyInput.value : "";
}

/** An answer the UI can show: ok, the decoded body, and a human-readable error. */
export class ApiResult {
  constructor(ok, body, error) {
    this.ok = ok;
    this.body = body;
    this.error = error;
  }
}

/**
 * POST a form (fkey added) and decode the answer.
 * Edit/delete/star refusals come back as 200 with a JSON string other than "ok"
 * (sechat.md §9.2), so a string body that is not "ok" counts as an error too.
 */
export async function post(path, fields = {}) {
  const form = new URLSearchParams({ ...fields, fkey: fkey() });
  let response;
  try {
    response = await fetch(path, {
      method: "POST",
      body: form,
      credentials: "same-origin",
      redirect: "manual",
    });
  } catch (error) {
    return new ApiResult(false, null, "Could not reach the server");
  }
  const text = await response.text();
  if (response.type === "opaqueredirect" || (response.status >= 300 && response.status < 400)) {
    return new ApiResult(false, null, "That message does not exist");
  }
  let body = text;
  const type = response.headers.get("Content-Type") || "";
  if (type.startsWith("application/json")) {
    try {
      body = JSON.parse(text);
    } catch (error) {
      body = text;
    }
  }
  if (!response.ok) {
    return new ApiResult(false, body, typeof body === "string" && body ? body : `Error ${response.status}`);
  }
  if (typeof body === "string" && body !== "ok") {
    return new ApiResult(false, body, body);
  }
  return new ApiResult(true, body, null);
}

export async function getJson(path) {
  const response = await fetch(path, { credentials: "same-origin" });
  if (!response.ok) {
    throw new Error(`GET ${path}: ${response.status}`);
  }
  return response.json();
}

export async function getText(path) {
  const response = await fetch(path, { credentials: "same-origin" });
  if (!response.ok) {
    throw new Error(`GET ${path}: ${response.status}`);
  }
  return response.text();
}
