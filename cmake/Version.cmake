# The git revision is refreshed on every build, but version.cc is only rewritten when it changes.
set(PACTWATCH_VERSION_CC ${CMAKE_BINARY_DIR}/generated/version.cc)
add_custom_target(pactwatch_version_file
  COMMAND ${CMAKE_COMMAND}
    -DSOURCE_DIR=${PROJECT_SOURCE_DIR}
    -DOUTPUT=${PACTWATCH_VERSION_CC}
    -DVERSION=${PROJECT_VERSION}
    -P ${PROJECT_SOURCE_DIR}/cmake/WriteVersion.cmake
  BYPRODUCTS ${PACTWATCH_VERSION_CC}
  COMMENT "Recording the git revision")
