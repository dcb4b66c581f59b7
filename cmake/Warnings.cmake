# Warnings for pactwatch's own targets only; third-party headers are included as SYSTEM.
add_library(pactwatch_warnings INTERFACE)
target_compile_options(pactwatch_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Wnon-virtual-dtor
  -Wold-style-cast -Woverloaded-virtual -Wimplicit-fallthrough)
# -Wnull-dereference is left out: it misfires on Boost.Asio's inlined scheduler.
if(PACTWATCH_WERROR)
  target_compile_options(pactwatch_warnings INTERFACE -Werror)
endif()

# pactwatch_module(NAME SOURCES... DEPS ...): one static library per module.
function(pactwatch_module name)
  cmake_parse_arguments(M "" "" "SOURCES;DEPS" ${ARGN})
  add_library(pactwatch_${name} STATIC ${M_SOURCES})
  add_library(pactwatch::${name} ALIAS pactwatch_${name})
  target_include_directories(pactwatch_${name}
    PUBLIC ${PROJECT_SOURCE_DIR}/include
    PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  target_link_libraries(pactwatch_${name} PUBLIC ${M_DEPS} PRIVATE pactwatch_warnings)
endfunction()

if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  # clang 19 flags libstdc++ 12's own internal use of std::get_temporary_buffer (deprecated in
  # C++20) inside std::stable_sort; the warning is about the library header, not our code.
  target_compile_options(pactwatch_warnings INTERFACE -Wno-deprecated-declarations)
endif()

if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  # GCC 12 at -O3 reports impossible overlaps in libstdc++'s own string concatenation
  # ("'" + std::string(...)) under -Wrestrict (GCC bug 105329, fixed in 13).
  target_compile_options(pactwatch_warnings INTERFACE -Wno-restrict)
endif()
