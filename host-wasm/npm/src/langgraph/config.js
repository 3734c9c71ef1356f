// Reading a LangGraph RunnableConfig, with LangGraph's own error messages, and telling rewind's
// not-found errors apart.

export function missing(what, method) {
  return new Error(
    `Failed to ${method}. The passed RunnableConfig is missing a required "${what}" field in its ` +
      `"configurable" property.`,
  );
}

export function requireString(value, what) {
  if (typeof value !== "string") {
    throw new Error(`Invalid configurable value for key "${what}": expected a string (got ${typeof value}).`);
  }
  return value;
}

export function threadOf(config, method) {
  const thread = config?.configurable?.thread_id;
  if (thread === undefined || thread === null || thread === "") throw missing("thread_id", method);
  return requireString(thread, "thread_id");
}

export function namespaceOf(config) {
  const ns = config?.configurable?.checkpoint_ns ?? "";
  return requireString(ns, "checkpoint_ns");
}

export function isNotFound(error) {
  return error?.code === "CHECKPOINT_NOT_FOUND" || error?.code === "SESSION_NOT_FOUND";
}
