// Every frame of every go-pb-* conformance transcript, parsed with the generated messages and
// checked against its note; argument and reply types checked against the method table.
#include <gtest/gtest.h>

#include "pluginserver/protobuf/methods.h"
#include "support.h"

namespace gh::pluginserver::protobuf {
namespace {

using test::Note;

class Transcript : public testing::TestWithParam<std::string> {};

TEST_P(Transcript, EveryFrameDecodesToItsNote) {
  const auto lines = test::load_transcript(GetParam());
  ASSERT_FALSE(lines.empty());
  const PdkMethod* method = nullptr;  // the PDK method whose args/reply come next
  std::size_t checked = 0;
  for (const auto& line : lines) {
    SCOPED_TRACE(line.note_text.substr(0, 160));
    const Note& note = line.note;
    if (note.kind == Note::Kind::close) {
      EXPECT_TRUE(line.frame.empty());
      continue;
    }
    const std::string payload = test::payload_of(line);
    ++checked;
    switch (note.kind) {
      case Note::Kind::method:
        EXPECT_FALSE(line.gateway_to_server);
        EXPECT_EQ(payload, note.text);
        method = find_pdk_method(note.text);
        EXPECT_NE(method, nullptr) << "go-pdk called a method our table lacks: " << note.text;
        continue;
      case Note::Kind::end:
        EXPECT_TRUE(payload.empty());
        continue;
      case Note::Kind::args:
        ASSERT_NE(method, nullptr);
        EXPECT_EQ(note.type, method->input->full_name());
        break;
      case Note::Kind::reply:
        ASSERT_NE(method, nullptr);
        if (!note.type.empty()) {
          EXPECT_EQ(note.type, method->output->full_name());
        }
        break;
      default:
        break;
    }
    EXPECT_EQ(payload.empty(), note.zero_length);
    if (note.type.empty()) {  // "reply (zero-length frame) nil"
      EXPECT_TRUE(payload.empty());
      continue;
    }
    auto expected = test::message_from_note(note);
    auto actual = test::parse_as(note.type, payload);
    ASSERT_TRUE(expected && actual) << "frame does not parse as " << note.type;
    EXPECT_EQ(test::differences(*expected, *actual), "");
  }
  EXPECT_GT(checked, 5u);
}

INSTANTIATE_TEST_SUITE_P(GoPb, Transcript, testing::ValuesIn(test::go_pb_transcripts()),
                         [](const auto& info) {
                           std::string name = info.param.substr(6, info.param.size() - 12);  // go-pb-X.jsonl
                           for (char& c : name)
                             if (c == '-') c = '_';
                           return name;
                         });

TEST(Transcripts, AllSevenScenariosArePresent) {
  EXPECT_EQ(test::go_pb_transcripts().size(), 7u);
}

}  // namespace
}  // namespace gh::pluginserver::protobuf
