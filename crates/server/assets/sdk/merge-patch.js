// JSON merge patch (RFC 7396), as the server applies it to member data. Used to keep the data a
// re-entry after reconnecting will carry.
function isObject(value) {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}
export function mergePatch(target, patch) {
    if (!isObject(patch))
        return patch;
    const result = isObject(target) ? { ...target } : {};
    for (const [key, value] of Object.entries(patch)) {
        if (value === null)
            delete result[key];
        else
            result[key] = mergePatch(result[key], value);
    }
    return result;
}
/** Structural equality of JSON values (object key order does not matter). */
export function jsonEqual(a, b) {
    if (a === b)
        return true;
    if (typeof a !== "object" || typeof b !== "object" || a === null || b === null)
        return false;
    if (Array.isArray(a) || Array.isArray(b)) {
        if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length)
            return false;
        return a.every((item, i) => jsonEqual(item, b[i]));
    }
    const keys = Object.keys(a);
    if (keys.length !== Object.keys(b).length)
        return false;
    return keys.every((key) => Object.prototype.hasOwnProperty.call(b, key) && jsonEqual(a[key], b[key]));
}
