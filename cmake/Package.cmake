# Installation (make install) and the Debian package (make deb, CPack). The package adds what an
# operator expects of a .deb beyond `make install`: the conffile /etc/pactwatch/pactwatch.yaml,
# maintainer scripts that create the user (sysusers) and directories (tmpfiles) and tell systemd
# of the unit without starting it, a copyright file, a changelog and a manual page.
include(GNUInstallDirs)
# Installing (and packaging) does not build the whole tree first: `make install` and `make deb`
# build the executable they install.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)
install(TARGETS pactwatch RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES systemd/pactwatch.service DESTINATION lib/systemd/system)
install(FILES systemd/pactwatch.sysusers DESTINATION lib/sysusers.d RENAME pactwatch.conf)
install(FILES systemd/pactwatch.tmpfiles DESTINATION lib/tmpfiles.d RENAME pactwatch.conf)
install(FILES systemd/pactwatch.yaml DESTINATION share/doc/pactwatch/examples)
install(DIRECTORY rules/examples/ DESTINATION share/doc/pactwatch/examples/rules)
install(FILES README.md packaging/deb/copyright DESTINATION share/doc/pactwatch)
install(DIRECTORY docs/ DESTINATION share/doc/pactwatch/docs)

# Only in the package: the config as a conffile (dpkg keeps an operator's changes on upgrade),
# the Debian changelog and the manual page, compressed as Debian wants them.
set(PACTWATCH_DEB_RELEASE "1" CACHE STRING "Debian revision of the package (pactwatch_VERSION-REVISION)")
set(PACTWATCH_DEB_MAINTAINER "" CACHE STRING "The package's maintainer, \"Name <email>\" (default: git config user.name and user.email)")
if(NOT PACTWATCH_DEB_MAINTAINER)
  execute_process(COMMAND git config user.name WORKING_DIRECTORY ${PROJECT_SOURCE_DIR} OUTPUT_VARIABLE _deb_name
                  OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  execute_process(COMMAND git config user.email WORKING_DIRECTORY ${PROJECT_SOURCE_DIR} OUTPUT_VARIABLE _deb_email
                  OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(_deb_name AND _deb_email)
    set(_deb_maintainer "${_deb_name} <${_deb_email}>")
  else()
    set(_deb_maintainer "pactwatch packager <packager@pactwatch.invalid>")
    message(STATUS "No maintainer for the .deb (git config user.name/user.email, or -DPACTWATCH_DEB_MAINTAINER=\"Name <email>\")")
  endif()
else()
  set(_deb_maintainer "${PACTWATCH_DEB_MAINTAINER}")
endif()
# The changelog's date: the commit's, so the same commit makes the same package.
execute_process(COMMAND git log -1 --format=%cD WORKING_DIRECTORY ${PROJECT_SOURCE_DIR} OUTPUT_VARIABLE _deb_date
                OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT _deb_date)
  string(TIMESTAMP _deb_date "%a, %d %b %Y %H:%M:%S +0000" UTC)
endif()
set(_deb_dir ${CMAKE_BINARY_DIR}/packaging)
file(MAKE_DIRECTORY ${_deb_dir})
file(WRITE ${_deb_dir}/changelog.Debian
     "pactwatch (${PROJECT_VERSION}-${PACTWATCH_DEB_RELEASE}) unstable; urgency=medium\n\n"
     "  * pactwatch ${PROJECT_VERSION}; see /usr/share/doc/pactwatch/README.md.\n\n"
     " -- ${_deb_maintainer}  ${_deb_date}\n")
execute_process(COMMAND gzip -9nc ${_deb_dir}/changelog.Debian OUTPUT_FILE ${_deb_dir}/changelog.Debian.gz)
execute_process(COMMAND gzip -9nc ${PROJECT_SOURCE_DIR}/packaging/deb/pactwatch.1 OUTPUT_FILE ${_deb_dir}/pactwatch.1.gz)
install(FILES systemd/pactwatch.yaml DESTINATION /etc/pactwatch COMPONENT deb EXCLUDE_FROM_ALL)
install(FILES ${_deb_dir}/changelog.Debian.gz DESTINATION share/doc/pactwatch COMPONENT deb EXCLUDE_FROM_ALL)
install(FILES ${_deb_dir}/pactwatch.1.gz DESTINATION share/man/man1 COMPONENT deb EXCLUDE_FROM_ALL)
install(FILES packaging/deb/lintian-overrides DESTINATION share/lintian/overrides RENAME pactwatch COMPONENT deb EXCLUDE_FROM_ALL)

set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "pactwatch")
set(CPACK_PACKAGE_CONTACT "${_deb_maintainer}")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${_deb_maintainer}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "monitors partner SLA and KPI contracts and computes what they pay")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "pactwatch polls the ticketing systems and CRMs where partners' work shows\n"
    "up, evaluates each partner's contract over business-hours calendars,\n"
    "computes performance-contingent compensation exactly, notifies on breaches\n"
    "and serves an API and a partner portal. It runs as a systemd service on an\n"
    "embedded SQLite store or on PostgreSQL.")
set(CPACK_DEBIAN_PACKAGE_SECTION "admin")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
set(CPACK_DEBIAN_PACKAGE_RELEASE "${PACTWATCH_DEB_RELEASE}")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# systemd-sysusers and systemd-tmpfiles run in postinst.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "systemd")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/deb/postinst ${PROJECT_SOURCE_DIR}/packaging/deb/prerm
    ${PROJECT_SOURCE_DIR}/packaging/deb/postrm ${PROJECT_SOURCE_DIR}/packaging/deb/conffiles)
# One package holding the default component and the package-only one.
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)
set(CPACK_COMPONENTS_ALL Unspecified deb)
include(CPack)
