// The portal's HTML helper: text is escaped unless it is markup of ours.
#include "html.h"

#include <gtest/gtest.h>

#include <string>

namespace pactwatch::api::html {
namespace {

using namespace literals;

TEST(Html, EscapesTheFiveCharacters) {
  EXPECT_EQ(escape("a & b <c> \"d\" 'e'"), "a &amp; b &lt;c&gt; &quot;d&quot; &#39;e&#39;");
  EXPECT_EQ(escape("plain · text ✓"), "plain · text ✓");
  EXPECT_EQ(escape(""), "");
}

TEST(Html, TextAppendedToMarkupIsEscapedLiteralsAreNot) {
  const std::string name = "<script>alert('x')</script>";
  const Markup m = "<td class=\"x\">"_html + name + "</td>"_html;
  EXPECT_EQ(m.str(), "<td class=\"x\">&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;</td>");
  Markup attr = "<input value=\""_html;
  attr += "\" onfocus=\"alert(1)";
  attr += "\">"_html;
  EXPECT_EQ(attr.str(), "<input value=\"&quot; onfocus=&quot;alert(1)\">") << "an attribute value cannot be closed from data";
}

TEST(Html, PlainLiteralsAndNumbersAreTextToo) {
  const Markup m = "<p>"_html + "a < b" + std::to_string(3) + "</p>"_html;
  EXPECT_EQ(m.str(), "<p>a &lt; b3</p>");
}

TEST(Html, TrustedAndTextAreExplicit) {
  EXPECT_EQ(Markup::trusted("<rect x=\"1\"/>").str(), "<rect x=\"1\"/>");
  EXPECT_EQ(Markup::text("<b>").str(), "&lt;b&gt;");
  EXPECT_TRUE(Markup().empty());
  const Markup inner = "<b>"_html + "&" + "</b>"_html;
  EXPECT_EQ(("<p>"_html + inner + "</p>"_html).str(), "<p><b>&amp;</b></p>") << "markup is never escaped twice";
}

}  // namespace
}  // namespace pactwatch::api::html
