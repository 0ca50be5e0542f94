// HTTP calls to /api/v1 with the error envelope turned into an ApiError.

export class ApiError extends Error {
  constructor(status, code, detail, retryAfter = 0) {
    super(typeof detail === "string" ? detail : code);
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.retryAfter = retryAfter;
  }

  get offline() {
    return this.status === 0;
  }
}

export async function api(path, { method = "GET", body, token, signal } = {}) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(`/api/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      signal,
    });
  } catch (error) {
    if (error && error.name === "AbortError") throw error;
    throw new ApiError(0, "offline", "You are offline.");
  }
  let data = null;
  const type = response.headers.get("content-type") || "";
  if (type.includes("application/json")) {
    try {
      data = await response.json();
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const retryAfter = Number.parseInt(response.headers.get("retry-after") || "0", 10) || 0;
    const code = (data && data.code) || `http_${response.status}`;
    const detail = (data && data.detail) || response.statusText;
    throw new ApiError(response.status, code, detail, retryAfter);
  }
  return data;
}
