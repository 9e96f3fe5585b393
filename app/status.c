/*
 * status.c - HTTP status reasons and spindle error messages, each from one
 * X-macro table so a name is written in exactly one place.
 */
#include "spindle/spindle.h"

#define SP__STATUS_MAP(XX)                                                                         \
    XX(100, "Continue")                                                                            \
    XX(101, "Switching Protocols")                                                                 \
    XX(200, "OK")                                                                                  \
    XX(201, "Created")                                                                             \
    XX(202, "Accepted")                                                                            \
    XX(203, "Non-Authoritative Information")                                                       \
    XX(204, "No Content")                                                                          \
    XX(205, "Reset Content")                                                                       \
    XX(206, "Partial Content")                                                                     \
    XX(300, "Multiple Choices")                                                                    \
    XX(301, "Moved Permanently")                                                                   \
    XX(302, "Found")                                                                               \
    XX(303, "See Other")                                                                           \
    XX(304, "Not Modified")                                                                        \
    XX(307, "Temporary Redirect")                                                                  \
    XX(308, "Permanent Redirect")                                                                  \
    XX(400, "Bad Request")                                                                         \
    XX(401, "Unauthorized")                                                                        \
    XX(402, "Payment Required")                                                                    \
    XX(403, "Forbidden")                                                                           \
    XX(404, "Not Found")                                                                           \
    XX(405, "Method Not Allowed")                                                                  \
    XX(406, "Not Acceptable")                                                                      \
    XX(408, "Request Timeout")                                                                     \
    XX(409, "Conflict")                                                                            \
    XX(410, "Gone")                                                                                \
    XX(411, "Length Required")                                                                     \
    XX(412, "Precondition Failed")                                                                 \
    XX(413, "Content Too Large")                                                                   \
    XX(414, "URI Too Long")                                                                        \
    XX(415, "Unsupported Media Type")                                                              \
    XX(416, "Range Not Satisfiable")                                                               \
    XX(417, "Expectation Failed")                                                                  \
    XX(421, "Misdirected Request")                                                                 \
    XX(422, "Unprocessable Content")                                                               \
    XX(425, "Too Early")                                                                           \
    XX(426, "Upgrade Required")                                                                    \
    XX(428, "Precondition Required")                                                               \
    XX(429, "Too Many Requests")                                                                   \
    XX(431, "Request Header Fields Too Large")                                                     \
    XX(451, "Unavailable For Legal Reasons")                                                       \
    XX(500, "Internal Server Error")                                                               \
    XX(501, "Not Implemented")                                                                     \
    XX(502, "Bad Gateway")                                                                         \
    XX(503, "Service Unavailable")                                                                 \
    XX(504, "Gateway Timeout")                                                                     \
    XX(505, "HTTP Version Not Supported")

const char *sp_status_reason(int status)
{
    switch (status) {
#define SP__XX(code, text)                                                                         \
    case code:                                                                                     \
        return text;
        SP__STATUS_MAP(SP__XX)
#undef SP__XX
    default:
        return "Unknown";
    }
}

const char *sp_strerror(int err)
{
    switch (err) {
    case SP_OK:
        return "success";
#define SP__XX(name, val, msg)                                                                     \
    case SP_##name:                                                                                \
        return msg;
        SP_ERRNO_MAP(SP__XX)
#undef SP__XX
    default:
        return "unknown error";
    }
}
