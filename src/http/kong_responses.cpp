#include "http/kong_responses.h"

#include <nlohmann/json.hpp>

namespace gh::http {

std::string_view kong_default_message(int status) {
  switch (status) {
    case 400:
      return "Bad request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not found";
    case 405:
      return "Method not allowed";
    case 408:
      return "Request timeout";
    case 411:
      return "Length required";
    case 412:
      return "Precondition failed";
    case 413:
      return "Request size limit exceeded";
    case 414:
      return "URI too long";
    case 417:
      return "Expectation failed";
    case 426:
      return "Please use HTTPS protocol";
    case 431:
      return "Request header or cookie too large";
    case 494:
      return "Request header or cookie too large";
    case 500:
      return "An unexpected error occurred";
    case 501:
      return "Not implemented";  // nginx's own page in Kong (not in its error_page list); JSON here
    case 502:
      return "An invalid response was received from the upstream server";
    case 503:
      return "The upstream server is currently unavailable";
    case 504:
      return "The upstream server is timing out";
    default:
      return "";
  }
}

std::string json_message_body(std::string_view message) {
  return nlohmann::json{{"message", message}}.dump();
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Payload Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 417:
      return "Expectation Failed";
    case 426:
      return "Upgrade Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Unknown";
  }
}

}  // namespace gh::http
